//! The schema auth-sqlite owns: versioned steps per token table, applied in
//! one write transaction, printable for teams that run their own migrations.

use auth_core::{Error, FieldKind, StoreError, UserResource};

use auth_sql::{TokenSchema, VersionSql};

use crate::store::{SQLITE, SqliteStore, db_err};

/// Steps of a token table, in order; a step is never edited once released,
/// only appended to. `{t}` is the quoted table, `{n}` its bare name, `{k}`
/// the quoted API-key table beside it (step 2), `{a}` the quoted
/// failed-attempt counters (step 3), `{e}` the security events (step 4);
/// step 5 binds rows and events to tenants. The
/// shape and indexes are PostgreSQL's; times are microseconds since the Unix
/// epoch (UTC), `extra_data` JSON text. No foreign key: a revocation row
/// outlives whatever it revokes and never cascades.
const TOKEN_TABLE_STEPS: &[&str] = &[
    "\
CREATE TABLE IF NOT EXISTS {t} (
    jti TEXT PRIMARY KEY NOT NULL,
    subject TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    purpose TEXT NOT NULL,
    extra_data TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS \"{n}_expires_at_idx\" ON {t} (expires_at);
CREATE INDEX IF NOT EXISTS \"{n}_subject_purpose_idx\" ON {t} (subject, purpose);
",
    "\
CREATE TABLE IF NOT EXISTS {k} (
    id TEXT PRIMARY KEY NOT NULL,
    subject TEXT NOT NULL,
    user_key TEXT NOT NULL,
    name TEXT NOT NULL,
    scopes TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX IF NOT EXISTS \"{n}_api_keys_subject_idx\" ON {k} (subject);
",
    "\
CREATE TABLE IF NOT EXISTS {a} (
    key TEXT PRIMARY KEY NOT NULL,
    failures INTEGER NOT NULL,
    max_failures INTEGER NOT NULL,
    window_ends INTEGER NOT NULL,
    locked_until INTEGER,
    expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS \"{n}_attempts_expires_at_idx\" ON {a} (expires_at);
",
    "\
CREATE TABLE IF NOT EXISTS {e} (
    id INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    kind TEXT NOT NULL,
    subject TEXT,
    session TEXT,
    ip TEXT,
    user_agent TEXT,
    outcome TEXT NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS \"{n}_events_subject_at_idx\" ON {e} (subject, at);
CREATE INDEX IF NOT EXISTS \"{n}_events_at_idx\" ON {e} (at);
",
    "\
ALTER TABLE {t} ADD COLUMN tenant TEXT;
ALTER TABLE {e} ADD COLUMN tenant TEXT;
CREATE INDEX IF NOT EXISTS \"{n}_tenant_subject_idx\" ON {t} (tenant, subject) WHERE tenant IS NOT NULL;
",
];

const VERSIONS_TABLE: &str = "CREATE TABLE IF NOT EXISTS auth_sqlite_schema (
    object TEXT PRIMARY KEY NOT NULL,
    version INTEGER NOT NULL,
    applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT";

const SCHEMA: TokenSchema = TokenSchema {
    dialect: &SQLITE,
    steps: TOKEN_TABLE_STEPS,
    versions: VersionSql {
        create: VERSIONS_TABLE,
        read: "SELECT version FROM auth_sqlite_schema WHERE object = ?1",
        record: "INSERT INTO auth_sqlite_schema (object, version) VALUES (?1, ?2) \
             ON CONFLICT (object) DO UPDATE SET version = excluded.version, \
             applied_at = excluded.applied_at",
    },
};

impl SqliteStore {
    /// The SQL of every step for a token table, for teams that run their own
    /// migrations. (Without `migrate`, nothing records which steps ran.)
    pub fn token_table_sql(table: &str) -> Result<String, Error> {
        Ok(SCHEMA.steps(table)?.join("\n"))
    }

    /// Brings the bound token table up to date: idempotent, and safe when
    /// several processes call it at once (one `BEGIN IMMEDIATE`
    /// transaction; the applied version is recorded in
    /// `auth_sqlite_schema`). Coexists with the application's own
    /// migrations: it touches only this table.
    pub async fn migrate(&self) -> Result<(), Error> {
        let err = |e: sqlx::Error| Error::Store(db_err("migrate")(e));
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(err)?;
        SCHEMA
            .apply::<sqlx::Sqlite>(&mut tx, &[self.bound_table()], err)
            .await?;
        tx.commit().await.map_err(err)
    }

    /// Runs [`user_table_sql`] for `U` (`CREATE TABLE IF NOT EXISTS`): for
    /// new projects, demos and tests; production schemas usually live in the
    /// application's own migrations.
    pub async fn create_user_table<U: UserResource>(&self) -> Result<(), Error> {
        let table = self
            .user_table_name(U::SUBJECT_NAME)
            .map_err(Error::Store)?;
        auth_sql::create_user_table::<U, _>(
            &SQLITE,
            &table,
            &self.writer,
            db_err("create user table"),
        )
        .await
    }
}

/// A `CREATE TABLE` for a derived user struct, from the derive's metadata:
/// the primary key, the identity field `UNIQUE` (case-insensitively), Rust
/// types mapped to SQLite (`String`, `Uuid` and `DateTime<Utc>` as `TEXT`,
/// integers `INTEGER`, floats `REAL`, `bool` `BOOLEAN` (0/1), `Option<T>`
/// nullable, anything else `JSON` text).
pub fn user_table_sql<U: UserResource>(table: &str) -> Result<String, StoreError> {
    SQLITE.user_table_sql::<U>(table)
}

/// The SQLite column type of a field kind (the declared type the store
/// reads back: `BOOLEAN` and `JSON` convert).
pub(crate) fn sqlite_type(kind: FieldKind) -> &'static str {
    match kind {
        FieldKind::Uuid | FieldKind::Text | FieldKind::DateTime | FieldKind::NaiveDateTime => {
            "TEXT"
        }
        FieldKind::Int64 | FieldKind::Int32 => "INTEGER",
        FieldKind::Bool => "BOOLEAN",
        FieldKind::Float => "REAL",
        _ => "JSON",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sql_type<T: auth_core::Column + ?Sized>() -> &'static str {
        sqlite_type(T::COLUMN.kind)
    }

    #[test]
    fn rust_types_map_to_sqlite() {
        assert_eq!(sqlite_type(FieldKind::Uuid), "TEXT");
        assert_eq!(sql_type::<Option<String>>(), "TEXT");
        assert_eq!(sql_type::<chrono::DateTime<chrono::Utc>>(), "TEXT");
        assert_eq!(sql_type::<bool>(), "BOOLEAN");
        assert_eq!(sqlite_type(FieldKind::Json), "JSON");
        assert!(
            SqliteStore::token_table_sql("tokens")
                .unwrap()
                .contains("\"tokens_expires_at_idx\"")
        );
        assert!(SqliteStore::token_table_sql("bad name").is_err());
    }
}
