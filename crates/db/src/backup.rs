//! A logical copy of the whole database: every table's rows as typed values, read in one
//! consistent snapshot while the node serves, and loaded into an empty database of either kind.
//!
//! The tables are found in the catalog (so a table a later migration adds is included without
//! a change here) and written parents first, by their foreign keys, so a load can insert them in
//! order. Values are the five SQL storage classes plus booleans; a load converts each to the type
//! of the target's column, which is what lets a SQLite database move to PostgreSQL (SQLite keeps
//! booleans as integers, PostgreSQL as `BOOLEAN`).
//!
//! Consistency: on SQLite every table is read inside one read transaction (in WAL mode a reader
//! sees the database as it was when its transaction began, and writers carry on); on PostgreSQL
//! inside one `REPEATABLE READ READ ONLY` transaction, the snapshot `pg_dump` takes.
//!
//! Left out: the migration bookkeeping (a load runs the migrations itself), SQLite's own tables,
//! and tables the schema maintains itself from other tables by triggers (the search indexes),
//! which the load rebuilds as it inserts.

use crate::{on_pool, Db, DbError};
use futures_util::TryStreamExt;
use sqlx::{Row, TypeInfo, ValueRef};
use std::collections::{BTreeMap, BTreeSet};

/// Tables never copied: bookkeeping, and indexes triggers rebuild from the rows they index.
const SKIPPED: &[&str] = &[
    "schema_migrations",
    // SQLite: the numbers 1..N a migration writes, used by the handle-grams trigger.
    "search_positions",
    // Both: letter pairs of handles, written by a trigger on `users`.
    "search_handle_grams",
];

/// A column's kind of value.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// 64-bit integers.
    Int,
    /// Double-precision floats.
    Real,
    /// Text.
    Text,
    /// Bytes.
    Bytes,
    /// Booleans (integers 0 and 1 on SQLite).
    Bool,
    /// Anything else, carried as its text form (PostgreSQL: `uuid`, `jsonb`, …).
    Other,
}

/// One column of a copied table.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Column {
    /// Its name.
    pub name: String,
    /// Its kind.
    pub kind: Kind,
    /// Its declared type as the source database wrote it.
    #[serde(rename = "type")]
    pub sql_type: String,
}

/// One copied table.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Table {
    /// Its name.
    pub name: String,
    /// Its columns (generated columns left out: the target computes them).
    pub columns: Vec<Column>,
    /// Rows in the snapshot.
    pub rows: u64,
}

/// What a snapshot holds, before its rows.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Snapshot {
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// The newest migration applied to the source.
    pub schema_version: i64,
    /// The tables, parents before children, with their row counts.
    pub tables: Vec<Table>,
}

/// A value in a row.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// SQL NULL.
    Null,
    /// An integer.
    Int(i64),
    /// A float.
    Real(f64),
    /// Text.
    Text(String),
    /// Bytes.
    Bytes(Vec<u8>),
    /// A boolean.
    Bool(bool),
}

impl Value {
    /// As JSON: integers, text, booleans and null as themselves; floats as `{"f": x}` and bytes as
    /// `{"b": "<base64>"}`, so that no kind is mistaken for another when read back.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::json;
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Int(i) => json!(i),
            Value::Real(f) if f.is_finite() => json!({ "f": f }),
            Value::Real(f) => json!({ "fs": f.to_string() }),
            Value::Text(s) => json!(s),
            Value::Bytes(b) => json!({ "b": data_encoding::BASE64.encode(b) }),
            Value::Bool(b) => json!(b),
        }
    }

    /// The inverse of [`Value::to_json`].
    pub fn from_json(v: &serde_json::Value) -> Result<Value, String> {
        use serde_json::Value as J;
        Ok(match v {
            J::Null => Value::Null,
            J::Bool(b) => Value::Bool(*b),
            J::Number(n) => Value::Int(
                n.as_i64()
                    .ok_or_else(|| format!("{n} is not a 64-bit integer"))?,
            ),
            J::String(s) => Value::Text(s.clone()),
            J::Object(o) => match (o.get("f"), o.get("fs"), o.get("b")) {
                (Some(f), _, _) => {
                    Value::Real(f.as_f64().ok_or_else(|| format!("{f} is not a number"))?)
                }
                (_, Some(J::String(s)), _) => {
                    Value::Real(s.parse().map_err(|_| format!("{s:?} is not a number"))?)
                }
                (_, _, Some(J::String(b))) => Value::Bytes(
                    data_encoding::BASE64
                        .decode(b.as_bytes())
                        .map_err(|e| format!("bytes: {e}"))?,
                ),
                _ => return Err(format!("unknown value {v}")),
            },
            J::Array(_) => return Err(format!("unknown value {v}")),
        })
    }
}

/// Receives a snapshot as it is read. An error stops the snapshot.
pub trait SnapshotSink {
    /// The snapshot's tables and counts, before any row.
    fn begin(&mut self, snapshot: &Snapshot) -> Result<(), String>;
    /// The rows that follow belong to `table`.
    fn table(&mut self, table: &Table) -> Result<(), String>;
    /// One row, its values in the order of the table's columns.
    fn row(&mut self, values: &[Value]) -> Result<(), String>;
}

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn sqlite_kind(decl: &str) -> Kind {
    let d = decl.to_ascii_uppercase();
    if d.contains("BOOL") {
        Kind::Bool
    } else if d.contains("INT") {
        Kind::Int
    } else if d.contains("REAL") || d.contains("FLOA") || d.contains("DOUB") {
        Kind::Real
    } else if d.contains("BLOB") {
        Kind::Bytes
    } else {
        Kind::Text
    }
}

fn pg_kind(ty: &str) -> Kind {
    match ty {
        "bigint" | "integer" | "smallint" => Kind::Int,
        "double precision" | "real" => Kind::Real,
        "boolean" => Kind::Bool,
        "bytea" => Kind::Bytes,
        t if t == "text" || t.starts_with("character") => Kind::Text,
        _ => Kind::Other,
    }
}

/// Orders tables so that each comes after the tables its foreign keys point at (self
/// references aside); tables in a cycle keep their alphabetical order at the end.
fn parents_first(mut names: Vec<String>, edges: &[(String, String)]) -> Vec<String> {
    names.sort();
    let set: BTreeSet<&String> = names.iter().collect();
    let mut deps: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (child, parent) in edges {
        if child != parent && set.contains(child) && set.contains(parent) {
            deps.entry(child.as_str())
                .or_default()
                .insert(parent.as_str());
        }
    }
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut out = Vec::with_capacity(names.len());
    loop {
        let before = out.len();
        for n in &names {
            if done.contains(n) {
                continue;
            }
            let ready = deps
                .get(n.as_str())
                .is_none_or(|d| d.iter().all(|p| done.contains(*p)));
            if ready {
                done.insert(n.clone());
                out.push(n.clone());
            }
        }
        if out.len() == names.len() {
            return out;
        }
        if out.len() == before {
            for n in &names {
                if !done.contains(n) {
                    out.push(n.clone());
                }
            }
            return out;
        }
    }
}

impl Db {
    /// The tables a backup copies, parents first, with their columns (no row counts).
    pub async fn backup_tables(&self) -> Result<Vec<Table>, DbError> {
        match self {
            Db::Sqlite(p) => {
                let mut c = p.acquire().await?;
                sqlite_tables(&mut c).await
            }
            Db::Postgres(p) => {
                let mut c = p.acquire().await?;
                pg_tables(&mut c).await
            }
        }
    }

    /// Reads every copied table in one consistent snapshot and hands it to `sink`: the
    /// tables and counts first, then each table's rows in primary-key order.
    pub async fn snapshot(
        &self,
        sink: &mut (dyn SnapshotSink + Send),
    ) -> Result<Snapshot, DbError> {
        let fail = |e: String| DbError::Invalid(e);
        match self {
            Db::Sqlite(p) => {
                let mut tx = p.begin().await?;
                // The read transaction starts at its first read; from here on every query
                // sees the same database.
                let version: Option<i64> =
                    sqlx::query_scalar("SELECT MAX(version) FROM schema_migrations")
                        .fetch_one(&mut *tx)
                        .await?;
                let mut tables = sqlite_tables(&mut tx).await?;
                for t in &mut tables {
                    let n: i64 =
                        sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {}", quote(&t.name)))
                            .fetch_one(&mut *tx)
                            .await?;
                    t.rows = n.max(0) as u64;
                }
                let snap = Snapshot {
                    backend: "sqlite".into(),
                    schema_version: version.unwrap_or(0),
                    tables,
                };
                sink.begin(&snap).map_err(fail)?;
                for t in &snap.tables {
                    sink.table(t).map_err(fail)?;
                    let cols: Vec<String> = t.columns.iter().map(|c| quote(&c.name)).collect();
                    let sql = format!(
                        "SELECT {} FROM {} ORDER BY rowid",
                        cols.join(", "),
                        quote(&t.name)
                    );
                    let mut rows = sqlx::query(&sql).fetch(&mut *tx);
                    let mut values = Vec::with_capacity(t.columns.len());
                    while let Some(row) = rows.try_next().await? {
                        values.clear();
                        for i in 0..t.columns.len() {
                            values.push(sqlite_value(&row, i)?);
                        }
                        sink.row(&values).map_err(fail)?;
                    }
                }
                tx.commit().await?;
                Ok(snap)
            }
            Db::Postgres(p) => {
                let mut c = p.acquire().await?;
                sqlx::query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    .execute(&mut *c)
                    .await?;
                let result = pg_snapshot(&mut c, sink).await;
                let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
                sqlx::query(end).execute(&mut *c).await?;
                result
            }
        }
    }

    /// Whether the database holds anything a restore would overwrite: `Some(reason)` when it
    /// does (any user, or any table that the migrations do not create).
    pub async fn restore_target_in_use(&self) -> Result<Option<String>, DbError> {
        let tables: Vec<String> = match self {
            Db::Sqlite(p) => sqlx::query_scalar(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
            )
            .fetch_all(p)
            .await?,
            Db::Postgres(p) => sqlx::query_scalar(
                "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')",
            )
            .fetch_all(p)
            .await?,
        };
        if tables.is_empty() {
            return Ok(None);
        }
        if !tables.iter().any(|t| t == "schema_migrations") {
            return Ok(Some(format!(
                "it holds {} table(s) that are not ferrocast's (e.g. {})",
                tables.len(),
                tables[0]
            )));
        }
        if tables.iter().any(|t| t == "users") {
            let users: i64 = on_pool!(self, p => sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(p).await?);
            if users > 0 {
                return Ok(Some(format!("it has {users} user(s)")));
            }
        }
        Ok(None)
    }

    /// Starts loading a snapshot: one transaction that first empties every table the snapshot
    /// holds (rows the migrations wrote, such as the default plans, give way to the copy's).
    /// Nothing is visible to others until [`Loader::finish`].
    pub async fn begin_load(&self, tables: &[Table]) -> Result<Loader, DbError> {
        let target = self.backup_tables().await?;
        let target: BTreeMap<String, Table> =
            target.into_iter().map(|t| (t.name.clone(), t)).collect();
        for t in tables {
            let Some(have) = target.get(&t.name) else {
                return Err(DbError::Invalid(format!(
                    "the backup holds table {} which this database's schema does not have",
                    t.name
                )));
            };
            for c in &t.columns {
                if !have.columns.iter().any(|h| h.name == c.name) {
                    return Err(DbError::Invalid(format!(
                        "the backup holds column {}.{} which this database's schema does not have",
                        t.name, c.name
                    )));
                }
            }
        }
        let inner = match self {
            Db::Sqlite(p) => {
                let mut tx = p.begin().await?;
                // Foreign keys are checked at commit, when every table is in.
                sqlx::query("PRAGMA defer_foreign_keys = ON")
                    .execute(&mut *tx)
                    .await?;
                for t in tables.iter().rev() {
                    sqlx::query(&format!("DELETE FROM {}", quote(&t.name)))
                        .execute(&mut *tx)
                        .await?;
                }
                LoaderTx::Sqlite(tx)
            }
            Db::Postgres(p) => {
                let mut tx = p.begin().await?;
                if !tables.is_empty() {
                    let names: Vec<String> = tables.iter().map(|t| quote(&t.name)).collect();
                    sqlx::query(&format!("TRUNCATE {} CASCADE", names.join(", ")))
                        .execute(&mut *tx)
                        .await?;
                }
                LoaderTx::Postgres(tx)
            }
        };
        Ok(Loader {
            tx: inner,
            target,
            current: None,
            batch: Vec::new(),
            loaded: BTreeMap::new(),
        })
    }
}

async fn sqlite_tables(c: &mut sqlx::SqliteConnection) -> Result<Vec<Table>, DbError> {
    let all: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT name, sql FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .fetch_all(&mut *c)
            .await?;
    let virtuals: Vec<&String> = all
        .iter()
        .filter(|(_, sql)| {
            sql.as_deref().is_some_and(|s| {
                s.trim_start()
                    .to_ascii_uppercase()
                    .starts_with("CREATE VIRTUAL")
            })
        })
        .map(|(n, _)| n)
        .collect();
    let mut names = Vec::new();
    for (name, sql) in &all {
        let shadow = virtuals.iter().any(|v| name.starts_with(&format!("{v}_")));
        let virt = sql.as_deref().is_some_and(|s| {
            s.trim_start()
                .to_ascii_uppercase()
                .starts_with("CREATE VIRTUAL")
        });
        if name.starts_with("sqlite_") || virt || shadow || SKIPPED.contains(&name.as_str()) {
            continue;
        }
        names.push(name.clone());
    }
    let mut edges = Vec::new();
    let mut tables = BTreeMap::new();
    for name in &names {
        let parents: Vec<String> =
            sqlx::query_scalar("SELECT \"table\" FROM pragma_foreign_key_list($1)")
                .bind(name)
                .fetch_all(&mut *c)
                .await?;
        edges.extend(parents.into_iter().map(|p| (name.clone(), p)));
        let cols: Vec<(String, String, i64)> =
            sqlx::query_as("SELECT name, type, hidden FROM pragma_table_xinfo($1) ORDER BY cid")
                .bind(name)
                .fetch_all(&mut *c)
                .await?;
        let columns = cols
            .into_iter()
            // hidden: 2 and 3 are generated columns.
            .filter(|(_, _, hidden)| *hidden == 0)
            .map(|(n, ty, _)| Column {
                name: n,
                kind: sqlite_kind(&ty),
                sql_type: ty,
            })
            .collect();
        tables.insert(
            name.clone(),
            Table {
                name: name.clone(),
                columns,
                rows: 0,
            },
        );
    }
    Ok(parents_first(names, &edges)
        .into_iter()
        .filter_map(|n| tables.remove(&n))
        .collect())
}

async fn pg_tables(c: &mut sqlx::PgConnection) -> Result<Vec<Table>, DbError> {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') ORDER BY 1",
    )
    .fetch_all(&mut *c)
    .await?;
    let names: Vec<String> = names
        .into_iter()
        .filter(|n| !SKIPPED.contains(&n.as_str()))
        .collect();
    let edges: Vec<(String, String)> = sqlx::query_as(
        "SELECT a.relname::text, b.relname::text FROM pg_constraint k \
         JOIN pg_class a ON a.oid = k.conrelid JOIN pg_class b ON b.oid = k.confrelid \
         JOIN pg_namespace n ON n.oid = a.relnamespace \
         WHERE k.contype = 'f' AND n.nspname = current_schema()",
    )
    .fetch_all(&mut *c)
    .await?;
    let mut tables = BTreeMap::new();
    for name in &names {
        let cols: Vec<(String, String, bool)> = sqlx::query_as(
            "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), a.attgenerated::text <> '' \
             FROM pg_attribute a WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 \
             AND NOT a.attisdropped ORDER BY a.attnum",
        )
        .bind(quote(name))
        .fetch_all(&mut *c)
        .await?;
        let columns = cols
            .into_iter()
            .filter(|(_, _, generated)| !generated)
            .map(|(n, ty, _)| Column {
                name: n,
                kind: pg_kind(&ty),
                sql_type: ty,
            })
            .collect();
        tables.insert(
            name.clone(),
            Table {
                name: name.clone(),
                columns,
                rows: 0,
            },
        );
    }
    Ok(parents_first(names, &edges)
        .into_iter()
        .filter_map(|n| tables.remove(&n))
        .collect())
}

async fn pg_primary_key(c: &mut sqlx::PgConnection, table: &str) -> Result<Vec<String>, DbError> {
    Ok(sqlx::query_scalar(
        "SELECT a.attname::text FROM pg_index i \
         JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) \
         WHERE i.indrelid = to_regclass($1) AND i.indisprimary ORDER BY a.attnum",
    )
    .bind(quote(table))
    .fetch_all(&mut *c)
    .await?)
}

async fn pg_snapshot(
    c: &mut sqlx::PgConnection,
    sink: &mut (dyn SnapshotSink + Send),
) -> Result<Snapshot, DbError> {
    let fail = |e: String| DbError::Invalid(e);
    let version: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM schema_migrations")
        .fetch_one(&mut *c)
        .await?;
    let mut tables = pg_tables(&mut *c).await?;
    for t in &mut tables {
        let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {}", quote(&t.name)))
            .fetch_one(&mut *c)
            .await?;
        t.rows = n.max(0) as u64;
    }
    let snap = Snapshot {
        backend: "postgres".into(),
        schema_version: version.unwrap_or(0),
        tables,
    };
    sink.begin(&snap).map_err(fail)?;
    for t in &snap.tables {
        sink.table(t).map_err(fail)?;
        let cols: Vec<String> = t
            .columns
            .iter()
            .map(|col| {
                let q = quote(&col.name);
                match col.kind {
                    Kind::Int => format!("{q}::bigint"),
                    Kind::Real => format!("{q}::float8"),
                    Kind::Text | Kind::Other => format!("{q}::text"),
                    Kind::Bytes | Kind::Bool => q,
                }
            })
            .collect();
        let key = pg_primary_key(&mut *c, &t.name).await?;
        let order = if key.is_empty() {
            String::new()
        } else {
            format!(
                " ORDER BY {}",
                key.iter().map(|k| quote(k)).collect::<Vec<_>>().join(", ")
            )
        };
        let sql = format!("SELECT {} FROM {}{order}", cols.join(", "), quote(&t.name));
        let mut rows = sqlx::query(&sql).fetch(&mut *c);
        let mut values = Vec::with_capacity(t.columns.len());
        while let Some(row) = rows.try_next().await? {
            values.clear();
            for (i, col) in t.columns.iter().enumerate() {
                let v = match col.kind {
                    Kind::Int => row.try_get::<Option<i64>, _>(i)?.map(Value::Int),
                    Kind::Real => row.try_get::<Option<f64>, _>(i)?.map(Value::Real),
                    Kind::Bool => row.try_get::<Option<bool>, _>(i)?.map(Value::Bool),
                    Kind::Bytes => row.try_get::<Option<Vec<u8>>, _>(i)?.map(Value::Bytes),
                    Kind::Text | Kind::Other => {
                        row.try_get::<Option<String>, _>(i)?.map(Value::Text)
                    }
                };
                values.push(v.unwrap_or(Value::Null));
            }
            sink.row(&values).map_err(fail)?;
        }
    }
    Ok(snap)
}

fn sqlite_value(row: &sqlx::sqlite::SqliteRow, i: usize) -> Result<Value, DbError> {
    let raw = row.try_get_raw(i)?;
    if raw.is_null() {
        return Ok(Value::Null);
    }
    let ty = raw.type_info().name().to_ascii_uppercase();
    Ok(match ty.as_str() {
        "INTEGER" | "INT" | "BIGINT" | "BOOLEAN" => Value::Int(row.try_get_unchecked::<i64, _>(i)?),
        "REAL" => Value::Real(row.try_get_unchecked::<f64, _>(i)?),
        "BLOB" => Value::Bytes(row.try_get_unchecked::<Vec<u8>, _>(i)?),
        _ => Value::Text(row.try_get_unchecked::<String, _>(i)?),
    })
}

enum LoaderTx {
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

/// A load in progress: tables in the order of the snapshot, rows batched into multi-row
/// inserts. Dropped without [`Loader::finish`], it rolls back.
pub struct Loader {
    tx: LoaderTx,
    target: BTreeMap<String, Table>,
    /// The table being loaded, with the target's column for each of the snapshot's.
    current: Option<(String, Vec<Column>)>,
    batch: Vec<Vec<Value>>,
    loaded: BTreeMap<String, u64>,
}

/// What a finished load wrote.
#[derive(Debug, Clone, Default)]
pub struct LoadReport {
    /// Rows in each table after the load, counted in the load's transaction.
    pub rows: BTreeMap<String, u64>,
    /// PostgreSQL sequences moved past the loaded ids.
    pub sequences: u64,
}

/// Rows per multi-row INSERT: under either backend's limit on parameters.
fn batch_rows(columns: usize) -> usize {
    (30_000 / columns.max(1)).clamp(1, 500)
}

fn convert(v: &Value, kind: &Kind, column: &str) -> Result<Value, DbError> {
    let bad = || DbError::Invalid(format!("column {column}: cannot store {v:?} as {kind:?}"));
    Ok(match (kind, v) {
        (_, Value::Null) => Value::Null,
        (Kind::Int, Value::Int(i)) => Value::Int(*i),
        (Kind::Int, Value::Bool(b)) => Value::Int(i64::from(*b)),
        (Kind::Int, Value::Text(s)) => Value::Int(s.trim().parse().map_err(|_| bad())?),
        (Kind::Int, Value::Real(f)) if f.fract() == 0.0 => Value::Int(*f as i64),
        (Kind::Bool, Value::Bool(b)) => Value::Bool(*b),
        (Kind::Bool, Value::Int(i)) => Value::Bool(*i != 0),
        (Kind::Bool, Value::Text(s)) => match s.as_str() {
            "t" | "true" | "1" => Value::Bool(true),
            "f" | "false" | "0" => Value::Bool(false),
            _ => return Err(bad()),
        },
        (Kind::Real, Value::Real(f)) => Value::Real(*f),
        (Kind::Real, Value::Int(i)) => Value::Real(*i as f64),
        (Kind::Real, Value::Text(s)) => Value::Real(s.trim().parse().map_err(|_| bad())?),
        (Kind::Bytes, Value::Bytes(b)) => Value::Bytes(b.clone()),
        (Kind::Bytes, Value::Text(s)) => Value::Bytes(s.as_bytes().to_vec()),
        (Kind::Text | Kind::Other, Value::Text(s)) => Value::Text(s.clone()),
        (Kind::Text | Kind::Other, Value::Int(i)) => Value::Text(i.to_string()),
        (Kind::Text | Kind::Other, Value::Real(f)) => Value::Text(f.to_string()),
        (Kind::Text | Kind::Other, Value::Bool(b)) => Value::Text(b.to_string()),
        (Kind::Text | Kind::Other, Value::Bytes(b)) => {
            Value::Text(String::from_utf8(b.clone()).map_err(|_| bad())?)
        }
        _ => return Err(bad()),
    })
}

impl Loader {
    /// The rows that follow belong to `table` (as the snapshot describes it).
    pub async fn table(&mut self, table: &Table) -> Result<(), DbError> {
        self.flush().await?;
        let have = self.target.get(&table.name).ok_or_else(|| {
            DbError::Invalid(format!("table {} is not in this schema", table.name))
        })?;
        let mut cols = Vec::with_capacity(table.columns.len());
        for c in &table.columns {
            let t = have
                .columns
                .iter()
                .find(|h| h.name == c.name)
                .ok_or_else(|| {
                    DbError::Invalid(format!(
                        "column {}.{} is not in this schema",
                        table.name, c.name
                    ))
                })?;
            cols.push(t.clone());
        }
        self.current = Some((table.name.clone(), cols));
        Ok(())
    }

    /// One row of the current table.
    pub async fn row(&mut self, values: Vec<Value>) -> Result<(), DbError> {
        let Some((name, cols)) = &self.current else {
            return Err(DbError::Invalid("a row before any table".into()));
        };
        if values.len() != cols.len() {
            return Err(DbError::Invalid(format!(
                "a row of {name} has {} values for {} columns",
                values.len(),
                cols.len()
            )));
        }
        let ncols = cols.len();
        let mut row = Vec::with_capacity(values.len());
        for (v, c) in values.iter().zip(cols) {
            row.push(convert(v, &c.kind, &c.name)?);
        }
        self.batch.push(row);
        if self.batch.len() >= batch_rows(ncols) {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), DbError> {
        let Some((name, cols)) = &self.current else {
            return Ok(());
        };
        if self.batch.is_empty() {
            return Ok(());
        }
        let rows = std::mem::take(&mut self.batch);
        let pg = matches!(self.tx, LoaderTx::Postgres(_));
        let mut sql = format!(
            "INSERT INTO {} ({}) VALUES ",
            quote(name),
            cols.iter()
                .map(|c| quote(&c.name))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let mut n = 0;
        for (r, _) in rows.iter().enumerate() {
            if r > 0 {
                sql.push_str(", ");
            }
            sql.push('(');
            for (i, c) in cols.iter().enumerate() {
                if i > 0 {
                    sql.push_str(", ");
                }
                n += 1;
                if pg && c.kind == Kind::Other {
                    sql.push_str(&format!("CAST(${n} AS {})", c.sql_type));
                } else {
                    sql.push_str(&format!("${n}"));
                }
            }
            sql.push(')');
        }
        let count = rows.len() as u64;
        match &mut self.tx {
            LoaderTx::Sqlite(tx) => {
                let mut q = sqlx::query(&sql);
                for v in rows.into_iter().flatten() {
                    q = match v {
                        Value::Null => q.bind(None::<i64>),
                        Value::Int(i) => q.bind(i),
                        Value::Real(f) => q.bind(f),
                        Value::Text(s) => q.bind(s),
                        Value::Bytes(b) => q.bind(b),
                        Value::Bool(b) => q.bind(i64::from(b)),
                    };
                }
                q.execute(&mut **tx).await?;
            }
            LoaderTx::Postgres(tx) => {
                let mut q = sqlx::query(&sql);
                for (i, v) in rows.into_iter().flatten().enumerate() {
                    let kind = &cols[i % cols.len()].kind;
                    q = match (v, kind) {
                        (Value::Null, Kind::Int) => q.bind(None::<i64>),
                        (Value::Null, Kind::Real) => q.bind(None::<f64>),
                        (Value::Null, Kind::Bool) => q.bind(None::<bool>),
                        (Value::Null, Kind::Bytes) => q.bind(None::<Vec<u8>>),
                        (Value::Null, _) => q.bind(None::<String>),
                        (Value::Int(x), _) => q.bind(x),
                        (Value::Real(x), _) => q.bind(x),
                        (Value::Text(x), _) => q.bind(x),
                        (Value::Bytes(x), _) => q.bind(x),
                        (Value::Bool(x), _) => q.bind(x),
                    };
                }
                q.execute(&mut **tx).await?;
            }
        }
        *self.loaded.entry(name.clone()).or_default() += count;
        Ok(())
    }

    /// Writes what is left, moves PostgreSQL's id sequences past the loaded ids, counts every
    /// table again and commits (SQLite checks the foreign keys here).
    pub async fn finish(mut self) -> Result<LoadReport, DbError> {
        self.flush().await?;
        let mut report = LoadReport::default();
        let names: Vec<String> = self.target.keys().cloned().collect();
        match &mut self.tx {
            LoaderTx::Sqlite(tx) => {
                let bad: Vec<(String, i64)> = sqlx::query_as(
                    "SELECT \"table\", COUNT(*) FROM pragma_foreign_key_check GROUP BY 1",
                )
                .fetch_all(&mut **tx)
                .await?;
                if let Some((t, n)) = bad.first() {
                    return Err(DbError::Invalid(format!(
                        "{n} row(s) of {t} point at rows the backup does not hold"
                    )));
                }
                for n in &names {
                    let c: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {}", quote(n)))
                        .fetch_one(&mut **tx)
                        .await?;
                    report.rows.insert(n.clone(), c.max(0) as u64);
                }
            }
            LoaderTx::Postgres(tx) => {
                let serial: Vec<(String, String)> = sqlx::query_as(
                    "SELECT c.relname::text, a.attname::text FROM pg_attribute a \
                     JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
                     WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND a.attnum > 0 \
                     AND NOT a.attisdropped \
                     AND pg_get_serial_sequence(quote_ident(c.relname), a.attname) IS NOT NULL",
                )
                .fetch_all(&mut **tx)
                .await?;
                for (t, col) in serial {
                    sqlx::query(&format!(
                        "SELECT setval(pg_get_serial_sequence($1, $2), COALESCE(MAX({}), 0) + 1, false) FROM {}",
                        quote(&col),
                        quote(&t)
                    ))
                    .bind(quote(&t))
                    .bind(&col)
                    .execute(&mut **tx)
                    .await?;
                    report.sequences += 1;
                }
                for n in &names {
                    let c: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {}", quote(n)))
                        .fetch_one(&mut **tx)
                        .await?;
                    report.rows.insert(n.clone(), c.max(0) as u64);
                }
            }
        }
        match self.tx {
            LoaderTx::Sqlite(tx) => tx.commit().await?,
            LoaderTx::Postgres(tx) => tx.commit().await?,
        }
        Ok(report)
    }
}

/// One automatic backup, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupRun {
    /// Where it is stored.
    pub storage_key: String,
    /// The node that took it.
    pub node: String,
    /// When it started (ms).
    pub started_at: i64,
    /// When it finished (ms), if it did.
    pub finished_at: Option<i64>,
    /// Its size, once stored.
    pub size_bytes: Option<i64>,
    /// Why it failed.
    pub error: Option<String>,
    /// When retention removed it.
    pub pruned_at: Option<i64>,
}

impl BackupRun {
    /// Finished and stored.
    pub fn succeeded(&self) -> bool {
        self.finished_at.is_some() && self.error.is_none()
    }
}

impl Db {
    /// Takes or renews the automatic-backup lease for `holder` until `until`; whether it holds
    /// it now (another node's lease still running: no).
    pub async fn take_backup_lease(
        &self,
        holder: &str,
        now: i64,
        until: i64,
    ) -> Result<bool, DbError> {
        let done = on_pool!(self, p => sqlx::query(
            "INSERT INTO backup_lease (id, holder, lease_until) VALUES (1, $1, $2) \
             ON CONFLICT (id) DO UPDATE SET holder = excluded.holder, lease_until = excluded.lease_until \
             WHERE backup_lease.holder = excluded.holder OR backup_lease.lease_until < $3",
        )
        .bind(holder)
        .bind(until)
        .bind(now)
        .execute(p)
        .await?
        .rows_affected());
        Ok(done == 1)
    }

    /// Gives the lease up (a node stopping), so another node may take over at once.
    pub async fn release_backup_lease(&self, holder: &str) -> Result<(), DbError> {
        on_pool!(self, p => { sqlx::query("DELETE FROM backup_lease WHERE holder = $1").bind(holder).execute(p).await?; });
        Ok(())
    }

    /// Records that `node` started a backup into `storage_key`.
    pub async fn backup_run_started(
        &self,
        storage_key: &str,
        node: &str,
        now: i64,
    ) -> Result<(), DbError> {
        on_pool!(self, p => sqlx::query(
            "INSERT INTO backup_runs (storage_key, node, started_at) VALUES ($1, $2, $3)",
        )
        .bind(storage_key)
        .bind(node)
        .bind(now)
        .execute(p)
        .await
        .map(|_| ())
        .map_err(crate::map_unique)?);
        Ok(())
    }

    /// Records how a backup ended: its size when stored, or why it failed.
    pub async fn backup_run_finished(
        &self,
        storage_key: &str,
        now: i64,
        outcome: Result<i64, &str>,
    ) -> Result<(), DbError> {
        let (size, error) = match outcome {
            Ok(size) => (Some(size), None),
            Err(e) => (None, Some(e.chars().take(1000).collect::<String>())),
        };
        on_pool!(self, p => sqlx::query(
            "UPDATE backup_runs SET finished_at = $2, size_bytes = $3, error = $4 WHERE storage_key = $1",
        )
        .bind(storage_key)
        .bind(now)
        .bind(size)
        .bind(error)
        .execute(p)
        .await
        .map(|_| ())?);
        Ok(())
    }

    /// Records that retention removed a stored backup.
    pub async fn backup_run_pruned(&self, storage_key: &str, now: i64) -> Result<(), DbError> {
        on_pool!(self, p => sqlx::query("UPDATE backup_runs SET pruned_at = $2 WHERE storage_key = $1")
            .bind(storage_key)
            .bind(now)
            .execute(p)
            .await
            .map(|_| ())?);
        Ok(())
    }

    /// The newest runs first, at most `limit`.
    pub async fn backup_runs(&self, limit: i64) -> Result<Vec<BackupRun>, DbError> {
        let rows = on_pool!(self, p => sqlx::query(
            "SELECT storage_key, node, started_at, finished_at, size_bytes, error, pruned_at \
             FROM backup_runs ORDER BY started_at DESC, storage_key DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(p)
        .await?
        .into_iter()
        .map(|r| Ok::<_, sqlx::Error>(BackupRun {
            storage_key: r.try_get("storage_key")?,
            node: r.try_get("node")?,
            started_at: r.try_get("started_at")?,
            finished_at: r.try_get("finished_at")?,
            size_bytes: r.try_get("size_bytes")?,
            error: r.try_get("error")?,
            pruned_at: r.try_get("pruned_at")?,
        }))
        .collect::<Result<Vec<_>, _>>()?);
        Ok(rows)
    }

    /// When the newest successful backup finished (ms), if any did.
    pub async fn last_backup_success(&self) -> Result<Option<i64>, DbError> {
        let t: Option<i64> = on_pool!(self, p => sqlx::query_scalar(
            "SELECT MAX(finished_at) FROM backup_runs WHERE finished_at IS NOT NULL AND error IS NULL",
        )
        .fetch_one(p)
        .await?);
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_through_json_without_changing_kind() {
        for v in [
            Value::Null,
            Value::Int(-5),
            Value::Int(i64::MAX),
            Value::Real(1.5),
            Value::Real(3.0),
            Value::Real(f64::NAN),
            Value::Text("1".into()),
            Value::Bytes(vec![0, 255, 10]),
            Value::Bool(true),
        ] {
            let back = Value::from_json(&v.to_json()).expect("decodes");
            match (&v, &back) {
                (Value::Real(a), Value::Real(b)) if a.is_nan() => assert!(b.is_nan()),
                _ => assert_eq!(v, back),
            }
        }
    }

    #[test]
    fn parents_come_before_children_and_cycles_do_not_hang() {
        let names = vec!["c".to_string(), "b".into(), "a".into()];
        let edges = vec![
            ("a".to_string(), "b".to_string()),
            ("b".into(), "c".into()),
            ("c".into(), "c".into()),
        ];
        assert_eq!(parents_first(names.clone(), &edges), ["c", "b", "a"]);
        let cycle = vec![("a".to_string(), "b".to_string()), ("b".into(), "a".into())];
        assert_eq!(parents_first(names, &cycle), ["c", "a", "b"]);
    }

    #[test]
    fn sqlite_booleans_become_postgres_booleans() {
        assert_eq!(
            convert(&Value::Int(1), &Kind::Bool, "x").expect("converts"),
            Value::Bool(true)
        );
        assert_eq!(
            convert(&Value::Bool(false), &Kind::Int, "x").expect("converts"),
            Value::Int(0)
        );
        assert!(convert(&Value::Text("yes".into()), &Kind::Bool, "x").is_err());
    }
}
