//! The schema auth-postgres owns: versioned steps per token table, applied
//! under an advisory lock, printable for teams that run their own migrations.

use auth_core::{Error, FieldKind, StoreError, UserResource};
use sqlx::Connection;

use auth_sql::{TokenSchema, VersionSql};

use crate::store::{POSTGRES, PgStore, db_err};

/// The advisory lock every `migrate` takes, so nodes starting together apply
/// each step once.
const MIGRATION_LOCK: i64 = 0x6175_7468_5f70_6721; // "auth_pg!"

/// Steps of a token table, in order; a step is never edited once released,
/// only appended to. `{t}` is the quoted table, `{n}` its bare name, `{k}`
/// the quoted API-key table beside it (step 2), `{a}` the quoted
/// failed-attempt counters (step 3), `{e}` the security events (step 4);
/// step 5 binds rows and events to tenants.
const TOKEN_TABLE_STEPS: &[&str] = &[
    "\
CREATE TABLE IF NOT EXISTS {t} (
    jti text PRIMARY KEY,
    subject text NOT NULL,
    expires_at timestamptz NOT NULL,
    purpose text NOT NULL,
    extra_data jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS \"{n}_expires_at_idx\" ON {t} (expires_at);
CREATE INDEX IF NOT EXISTS \"{n}_subject_purpose_idx\" ON {t} (subject, purpose);
",
    "\
CREATE TABLE IF NOT EXISTS {k} (
    id text PRIMARY KEY,
    subject text NOT NULL,
    user_key text NOT NULL,
    name text NOT NULL,
    scopes jsonb NOT NULL,
    secret_hash text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    last_used_at timestamptz,
    revoked boolean NOT NULL DEFAULT false
);
CREATE INDEX IF NOT EXISTS \"{n}_api_keys_subject_idx\" ON {k} (subject);
",
    "\
CREATE TABLE IF NOT EXISTS {a} (
    key text PRIMARY KEY,
    failures integer NOT NULL,
    max_failures integer NOT NULL,
    window_ends timestamptz NOT NULL,
    locked_until timestamptz,
    expires_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS \"{n}_attempts_expires_at_idx\" ON {a} (expires_at);
",
    "\
CREATE TABLE IF NOT EXISTS {e} (
    id bigserial PRIMARY KEY,
    at timestamptz NOT NULL,
    kind text NOT NULL,
    subject text,
    session text,
    ip text,
    user_agent text,
    outcome text NOT NULL
);
CREATE INDEX IF NOT EXISTS \"{n}_events_subject_at_idx\" ON {e} (subject, at);
CREATE INDEX IF NOT EXISTS \"{n}_events_at_idx\" ON {e} (at);
",
    "\
ALTER TABLE {t} ADD COLUMN IF NOT EXISTS tenant text;
ALTER TABLE {e} ADD COLUMN IF NOT EXISTS tenant text;
CREATE INDEX IF NOT EXISTS \"{n}_tenant_subject_idx\" ON {t} (tenant, subject) WHERE tenant IS NOT NULL;
",
];

const VERSIONS_TABLE: &str = "CREATE TABLE IF NOT EXISTS auth_postgres_schema (
    object text PRIMARY KEY,
    version integer NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)";

const SCHEMA: TokenSchema = TokenSchema {
    dialect: &POSTGRES,
    steps: TOKEN_TABLE_STEPS,
    versions: VersionSql {
        create: VERSIONS_TABLE,
        read: "SELECT version::bigint FROM auth_postgres_schema WHERE object = $1",
        record: "INSERT INTO auth_postgres_schema (object, version) VALUES ($1, $2::integer) \
             ON CONFLICT (object) DO UPDATE SET version = EXCLUDED.version, applied_at = now()",
    },
};

impl PgStore {
    /// The SQL of every step for a token table, for teams that run their own
    /// migrations. (Without `migrate`, nothing records which steps ran.)
    pub fn token_table_sql(table: &str) -> Result<String, Error> {
        Ok(SCHEMA.steps(table)?.join("\n"))
    }

    /// Brings the bound token table up to date: idempotent, and safe when
    /// several nodes call it at once (one transaction under an advisory
    /// lock; the applied version is recorded in `auth_postgres_schema`).
    /// Coexists with the application's own migrations: it touches only
    /// this table.
    pub async fn migrate(&self) -> Result<(), Error> {
        let err = |e: sqlx::Error| Error::Store(db_err("migrate")(e));
        let mut conn = self.pool.acquire().await.map_err(err)?;
        let mut tx = conn.begin().await.map_err(err)?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        SCHEMA
            .apply::<sqlx::Postgres>(&mut tx, &[self.bound_table()], err)
            .await?;
        tx.commit().await.map_err(err)
    }

    /// Runs [`user_table_sql`] for `U` (`CREATE TABLE IF NOT EXISTS`): for
    /// new projects, demos and tests; production schemas usually live in the
    /// application's own migrations.
    pub async fn create_user_table<U: UserResource>(&self) -> Result<(), Error> {
        let table = self.user_table(U::SUBJECT_NAME).map_err(Error::Store)?;
        auth_sql::create_user_table::<U, _>(
            &POSTGRES,
            &table,
            &self.pool,
            db_err("create user table"),
        )
        .await
    }
}

/// A `CREATE TABLE` for a derived user struct, from the derive's metadata:
/// the primary key, the identity field `UNIQUE` (and unique lower-cased),
/// Rust types mapped to SQL (`Uuid` uuid, `String` text, `i64` bigint,
/// `i32` integer, `bool`, `DateTime<Utc>` timestamptz, `f64`, `Option<T>`
/// nullable, others jsonb). `table` may be quoted already.
pub fn user_table_sql<U: UserResource>(table: &str) -> Result<String, StoreError> {
    POSTGRES.user_table_sql::<U>(table)
}

/// The PostgreSQL column type of a field kind.
pub(crate) fn pg_type(kind: FieldKind) -> &'static str {
    match kind {
        FieldKind::Uuid => "uuid",
        FieldKind::Text => "text",
        FieldKind::Int64 => "bigint",
        FieldKind::Int32 => "integer",
        FieldKind::Bool => "boolean",
        FieldKind::Float => "double precision",
        FieldKind::DateTime => "timestamptz",
        FieldKind::NaiveDateTime => "timestamp",
        _ => "jsonb",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sql_type<T: auth_core::Column + ?Sized>() -> (&'static str, bool) {
        (pg_type(T::COLUMN.kind), T::COLUMN.nullable)
    }

    #[test]
    fn rust_types_map_to_sql() {
        assert_eq!(pg_type(FieldKind::Uuid), "uuid");
        assert_eq!(sql_type::<Option<String>>(), ("text", true));
        assert_eq!(
            sql_type::<chrono::DateTime<chrono::Utc>>(),
            ("timestamptz", false)
        );
        assert_eq!(sql_type::<i64>(), ("bigint", false));
        assert_eq!(pg_type(FieldKind::Json), "jsonb");
        assert!(
            PgStore::token_table_sql("tokens")
                .unwrap()
                .contains("\"tokens_expires_at_idx\"")
        );
        assert!(PgStore::token_table_sql("bad name").is_err());
    }
}
