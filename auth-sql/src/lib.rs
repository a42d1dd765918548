//! What the two SQL stores, auth-postgres and auth-sqlite, share, written
//! once: table and column quoting (a [`Dialect`] says where they differ),
//! the per-table statement cache, the token table's versioned steps, the
//! user table's `CREATE TABLE`, users in and out as JSON, how a driver
//! error becomes a store error, and the token operations both run alike
//! ([`tokens`]).
//!
//! Internal to this workspace: its API follows the stores' needs, and
//! applications use the stores, not this crate.

pub mod events;
pub mod tokens;

#[doc(hidden)]
pub use sqlx as __sqlx;

use std::sync::Arc;

use auth_core::{
    Error, FieldKind, InsertUserError, PerTable, StoreError, UserColumn, UserResource,
};
use serde_json::Value;

/// Where the SQL the stores write differs between databases.
#[derive(Debug)]
pub struct Dialect {
    /// Whether a table name may be `schema.name` (PostgreSQL) or only `name`.
    pub schemas: bool,
    /// The column type of a field kind in a user table.
    pub column_type: fn(FieldKind) -> &'static str,
    /// What follows a primary key column's type.
    pub primary_key: &'static str,
    /// Whether the identity column carries its own `UNIQUE` besides the
    /// case-insensitive unique index every dialect gets.
    pub unique_identity: bool,
}

impl Dialect {
    /// Quotes `table` (or, where the dialect has schemas, `schema.table`);
    /// anything but ASCII letters, digits and `_` (not leading digit, at
    /// most 63 bytes a part) is refused, so names cannot inject SQL.
    pub fn quote_table(&self, table: &str) -> Result<String, Error> {
        let parts: Vec<&str> = table.split('.').collect();
        let valid = |p: &&str| {
            !p.is_empty()
                && p.len() <= 63
                && !p.starts_with(|c: char| c.is_ascii_digit())
                && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        };
        let most = if self.schemas { 2 } else { 1 };
        if parts.len() > most || !parts.iter().all(valid) {
            return Err(Error::Config(format!(
                "table name `{table}` must be {} of letters, digits and `_` (not starting with a digit)",
                if self.schemas {
                    "`name` or `schema.name`"
                } else {
                    "a name"
                }
            )));
        }
        Ok(parts
            .iter()
            .map(|p| format!("\"{p}\""))
            .collect::<Vec<_>>()
            .join("."))
    }

    /// [`quote_table`](Self::quote_table) for a name the stores check at
    /// run time.
    pub fn quote_store_table(&self, table: &str) -> Result<String, StoreError> {
        self.quote_table(table)
            .map_err(|e| StoreError::msg(e.to_string()))
    }

    /// Each of `steps` (a token table's versioned migration steps) for
    /// `table`: `{t}` becomes the quoted name, `{n}` the bare one (`.` as
    /// `_`), `{k}` the quoted name of its API-key table
    /// ([`api_key_table`](Self::api_key_table)).
    pub fn token_table_steps(&self, steps: &[&str], table: &str) -> Result<Vec<String>, Error> {
        let quoted = self.quote_table(table)?;
        let keys = self.api_key_table(table)?;
        let attempts = self.attempt_table(table)?;
        let events = self.event_table(table)?;
        let bare = table.replace('.', "_");
        Ok(steps
            .iter()
            .map(|s| {
                s.replace("{t}", &quoted)
                    .replace("{k}", &keys)
                    .replace("{a}", &attempts)
                    .replace("{e}", &events)
                    .replace("{n}", &bare)
            })
            .collect())
    }

    /// The quoted name of the API-key table beside the token table
    /// `table`: `<table>_api_keys`, in the same schema.
    pub fn api_key_table(&self, table: &str) -> Result<String, Error> {
        self.quote_table(&format!("{table}_api_keys"))
    }

    /// The quoted name of the failed-attempt counters of the token table
    /// `table`: `<table>_attempts`, in the same schema.
    pub fn attempt_table(&self, table: &str) -> Result<String, Error> {
        self.quote_table(&format!("{table}_attempts"))
    }

    /// The quoted name of the security events of the token table `table`:
    /// `<table>_events`, in the same schema.
    pub fn event_table(&self, table: &str) -> Result<String, Error> {
        self.quote_table(&format!("{table}_events"))
    }

    /// A `CREATE TABLE` for a derived user struct, from the derive's
    /// metadata: the primary key, `NOT NULL` but for `Option<T>`, the
    /// dialect's column types, and a unique index on the lower-cased
    /// identity. `table` is bare, or quoted exactly as
    /// [`quote_table`](Self::quote_table) writes it.
    pub fn user_table_sql<U: UserResource>(&self, table: &str) -> Result<String, StoreError> {
        let columns = UserColumn::of::<U>()?;
        let bare = table.replace('"', "");
        let quoted = self.quote_store_table(&bare)?;
        if table.starts_with('"') && table != quoted {
            return Err(StoreError::msg(format!(
                "table name `{table}` must be quoted as `{quoted}` or not at all"
            )));
        }
        let short = bare.rsplit('.').next().unwrap_or(&bare);
        let columns: Vec<String> = columns
            .iter()
            .map(|c| {
                let mut col = format!(
                    "    {} {}",
                    quote_column(c.name),
                    (self.column_type)(c.kind)
                );
                if c.primary_key {
                    col.push_str(self.primary_key);
                } else {
                    if !c.nullable {
                        col.push_str(" NOT NULL");
                    }
                    if c.identity && self.unique_identity {
                        col.push_str(" UNIQUE");
                    }
                }
                col
            })
            .collect();
        let mut sql = format!(
            "CREATE TABLE IF NOT EXISTS {quoted} (\n{}\n);\n",
            columns.join(",\n")
        );
        // Identities are stored normalised (lower case) by auth-core; this
        // index keeps them unique case-insensitively even for rows written
        // around it.
        if let Some(identity) = U::IDENTITY_FIELD {
            let index = quote_column(&format!("{short}_{identity}_lower_key"));
            sql.push_str(&format!(
                "CREATE UNIQUE INDEX IF NOT EXISTS {index} ON {quoted} (lower({}));\n",
                quote_column(identity)
            ));
        }
        Ok(sql)
    }
}

/// Quotes a column name taken from a serialized user (any text): doubles `"`.
pub fn quote_column(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A SQL string literal: doubles `'`.
pub fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// SQL built from a name checked by [`Dialect::quote_table`]; values are
/// always bound.
pub fn sql(s: &Arc<str>) -> sqlx::AssertSqlSafe<Arc<str>> {
    sqlx::AssertSqlSafe(s.clone())
}

/// Each row decoded by `decode` (a failure through the store's `db_err`).
pub fn decode_rows<R, T>(
    rows: &[R],
    decode: impl Fn(&R) -> Result<T, sqlx::Error>,
    db_err: impl FnOnce(sqlx::Error) -> StoreError,
) -> Result<Vec<T>, StoreError> {
    rows.iter()
        .map(decode)
        .collect::<Result<_, _>>()
        .map_err(db_err)
}

/// Runs the [`Dialect::user_table_sql`] of `U` for `table` on `executor`.
pub async fn create_user_table<'c, U: UserResource, E: sqlx::Executor<'c>>(
    dialect: &Dialect,
    table: &str,
    executor: E,
    db_err: impl FnOnce(sqlx::Error) -> StoreError,
) -> Result<(), Error> {
    let sql = dialect.user_table_sql::<U>(table).map_err(Error::Store)?;
    match sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(executor)
        .await
    {
        Ok(_) => Ok(()),
        Err(e) => Err(Error::Store(db_err(e))),
    }
}

/// A row count for a `LIMIT` parameter.
pub fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The statements of a store bound to one token table, built once: the
/// token statements (`Q`, the store's own set, built when the store is
/// bound) and those per user resource (e.g. the authenticate query, built
/// at first use). A store bound to another table gets new ones.
#[derive(Debug)]
pub struct Statements<Q> {
    table: String,
    queries: Q,
    per_user: PerTable<(&'static str, UserStatement), Arc<str>>,
}

/// The statements built per user resource (for the bound token table).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UserStatement {
    /// Authenticate a token without a session.
    Authenticate,
    /// Authenticate a token with its session.
    AuthenticateWithSession,
    /// Read an API key's row and its user.
    ApiKey,
}

impl UserStatement {
    /// The authenticate statement with or without the session.
    pub fn authenticate(with_session: bool) -> Self {
        if with_session {
            Self::AuthenticateWithSession
        } else {
            Self::Authenticate
        }
    }
}

/// The quoted names of a token table and the tables beside it, as a
/// store's statements name them.
#[derive(Clone, Copy, Debug)]
pub struct Tables<'a> {
    /// The token table.
    pub tokens: &'a str,
    /// Its API keys (`<table>_api_keys`).
    pub api_keys: &'a str,
    /// Its failed-attempt counters (`<table>_attempts`).
    pub attempts: &'a str,
    /// Its security events (`<table>_events`).
    pub events: &'a str,
}

impl<Q> Statements<Q> {
    /// The statements of `table` (as the token resource names it), built
    /// by `build` from its quoted name and those of the tables beside it
    /// ([`Dialect::api_key_table`], [`Dialect::attempt_table`]); a bad name
    /// is an error.
    pub fn new(
        dialect: &Dialect,
        table: &str,
        build: impl FnOnce(&Tables<'_>) -> Q,
    ) -> Result<Self, Error> {
        let (tokens, api_keys, attempts, events) = (
            dialect.quote_table(table)?,
            dialect.api_key_table(table)?,
            dialect.attempt_table(table)?,
            dialect.event_table(table)?,
        );
        Ok(Self {
            table: table.to_owned(),
            queries: build(&Tables {
                tokens: &tokens,
                api_keys: &api_keys,
                attempts: &attempts,
                events: &events,
            }),
            per_user: PerTable::default(),
        })
    }

    /// The statements of the default token table (`tokens`), which needs
    /// no check: a store that has not been bound yet.
    pub fn default_table(build: impl FnOnce(&Tables<'_>) -> Q) -> Self {
        let table = auth_core::DEFAULT_TOKEN_TABLE;
        Self {
            table: table.to_owned(),
            queries: build(&Tables {
                tokens: &quote_column(table),
                api_keys: &quote_column(&format!("{table}_api_keys")),
                attempts: &quote_column(&format!("{table}_attempts")),
                events: &quote_column(&format!("{table}_events")),
            }),
            per_user: PerTable::default(),
        }
    }

    /// The token table, as the token resource names it.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The token statements.
    pub fn queries(&self) -> &Q {
        &self.queries
    }

    /// Statements per subject name and variant, e.g. the authenticate
    /// query with or without the session.
    pub fn per_user(&self) -> &PerTable<(&'static str, UserStatement), Arc<str>> {
        &self.per_user
    }
}

/// A user's fields as the JSON object the stores bind.
pub fn user_fields<U: UserResource>(
    user: &U,
) -> Result<serde_json::Map<String, Value>, StoreError> {
    match serde_json::to_value(user) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(StoreError::msg("a user must serialize to a JSON object")),
        Err(e) => Err(StoreError::new("user does not serialize", e)),
    }
}

/// The quoted identity column of `U`, for a lookup by identity (an error
/// for a resource without one).
pub fn identity_column<U: UserResource>() -> Result<String, StoreError> {
    U::IDENTITY_FIELD
        .map(quote_column)
        .ok_or_else(|| StoreError::msg("this user resource has no identity field"))
}

/// A stored user read back (the JSON the store selected).
pub fn stored_user<U: UserResource>(parsed: serde_json::Result<U>) -> Result<U, StoreError> {
    parsed.map_err(|e| StoreError::new("stored user does not deserialize", e))
}

/// Whether the database refused a write for a unique index (a taken identity).
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// A user insert's outcome: a unique violation is a taken identity; other
/// errors go through the store's `db_err`.
pub fn inserted(
    done: Result<(), sqlx::Error>,
    db_err: impl FnOnce(sqlx::Error) -> StoreError,
) -> Result<(), InsertUserError> {
    match done {
        Ok(()) => Ok(()),
        Err(e) if is_unique_violation(&e) => Err(InsertUserError::IdentityTaken),
        Err(e) => Err(InsertUserError::Store(db_err(e))),
    }
}

/// A user update's error: a unique violation is a taken identity; other
/// errors go through the store's `db_err`.
pub fn update_err(
    db_err: impl FnOnce(sqlx::Error) -> StoreError,
) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |e| {
        if is_unique_violation(&e) {
            StoreError::new("identity is already taken", e)
        } else {
            db_err(e)
        }
    }
}

/// How a store keeps the versions of migrated objects: `create` makes the
/// versions table when missing, `read` selects an object's version (first
/// parameter) as a 64-bit integer, and `record` upserts object and version
/// (first and second).
#[derive(Debug)]
pub struct VersionSql {
    /// Creates the versions table if it does not exist.
    pub create: &'static str,
    /// The version applied, for the object.
    pub read: &'static str,
    /// Records the object's new version.
    pub record: &'static str,
}

/// A store's token-table schema: its dialect, the versioned steps of one
/// token table (`{t}` the quoted name, `{n}` the bare one), and where
/// applied versions are kept.
#[derive(Debug)]
pub struct TokenSchema {
    /// The store's dialect (table names).
    pub dialect: &'static Dialect,
    /// The steps, in order; a released step is never edited, only appended to.
    pub steps: &'static [&'static str],
    /// The versions table's SQL.
    pub versions: VersionSql,
}

impl TokenSchema {
    /// The steps for `table`.
    pub fn steps(&self, table: &str) -> Result<Vec<String>, Error> {
        self.dialect.token_table_steps(self.steps, table)
    }

    /// Applies each token table's missing steps on `conn`, inside the
    /// caller's transaction, and records the version reached. A step may
    /// be several statements: it runs through the simple protocol.
    pub async fn apply<DB>(
        &self,
        conn: &mut DB::Connection,
        token_tables: &[&str],
        err: impl Fn(sqlx::Error) -> Error,
    ) -> Result<(), Error>
    where
        DB: sqlx::Database,
        for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
        for<'q> String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
        for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Decode<'q, DB> + sqlx::Type<DB>,
        usize: sqlx::ColumnIndex<DB::Row>,
        DB::Arguments: sqlx::IntoArguments<DB>,
    {
        let sql = &self.versions;
        sqlx::query(sql.create)
            .execute(&mut *conn)
            .await
            .map_err(&err)?;
        for table in token_tables {
            let object = format!("token_table:{table}");
            let steps = self.steps(table)?;
            let done: Option<i64> = sqlx::query_scalar(sql.read)
                .bind(object.clone())
                .fetch_optional(&mut *conn)
                .await
                .map_err(&err)?;
            let done = usize::try_from(done.unwrap_or(0)).unwrap_or(0);
            for (i, step) in steps.iter().enumerate().skip(done) {
                sqlx::raw_sql(sqlx::AssertSqlSafe(step.clone()))
                    .execute(&mut *conn)
                    .await
                    .map_err(&err)?;
                tracing::info!(table = %table, version = i + 1, "applied token table migration");
            }
            sqlx::query(sql.record)
                .bind(object)
                .bind(i64::try_from(steps.len()).unwrap_or(i64::MAX))
                .execute(&mut *conn)
                .await
                .map_err(&err)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WITH_SCHEMAS: Dialect = Dialect {
        schemas: true,
        column_type: |_| "text",
        primary_key: " PRIMARY KEY",
        unique_identity: true,
    };
    const WITHOUT_SCHEMAS: Dialect = Dialect {
        schemas: false,
        ..WITH_SCHEMAS
    };

    #[test]
    fn the_unchecked_default_table_is_quoted_as_a_checked_one() {
        for d in [&WITH_SCHEMAS, &WITHOUT_SCHEMAS] {
            let both =
                |t: &Tables<'_>| format!("{} {} {} {}", t.tokens, t.api_keys, t.attempts, t.events);
            let checked = Statements::new(d, auth_core::DEFAULT_TOKEN_TABLE, both).unwrap();
            let default = Statements::default_table(both);
            assert_eq!(default.queries(), checked.queries());
            assert_eq!(default.table(), checked.table());
        }
    }

    #[test]
    fn the_api_key_table_sits_beside_the_token_table() {
        for (d, table, keys) in [
            (&WITH_SCHEMAS, "tokens", "\"tokens_api_keys\""),
            (&WITH_SCHEMAS, "auth.tokens", "\"auth\".\"tokens_api_keys\""),
            (&WITHOUT_SCHEMAS, "tokens", "\"tokens_api_keys\""),
        ] {
            let built = Statements::new(d, table, |t| t.api_keys.to_owned()).unwrap();
            assert_eq!(built.queries(), keys);
        }
        // A token table whose key table's name would be too long is refused.
        let long = "t".repeat(60);
        assert!(Statements::new(&WITH_SCHEMAS, &long, |t| t.tokens.to_owned()).is_err());
    }

    #[test]
    fn table_names_are_quoted_or_refused() {
        for d in [&WITH_SCHEMAS, &WITHOUT_SCHEMAS] {
            assert_eq!(d.quote_table("tokens").unwrap(), "\"tokens\"");
            for bad in [
                "",
                "a.b.c",
                "to\"kens",
                "tokens; drop table x",
                "1tokens",
                "t-x",
            ] {
                assert!(d.quote_table(bad).is_err(), "{bad}");
            }
            assert!(d.quote_table(&"t".repeat(64)).is_err());
        }
        assert_eq!(
            WITH_SCHEMAS.quote_table("auth.tokens").unwrap(),
            "\"auth\".\"tokens\""
        );
        let refused = WITHOUT_SCHEMAS.quote_table("auth.tokens").unwrap_err();
        assert!(refused.to_string().contains("`auth.tokens`"), "{refused}");
        assert_eq!(quote_column("we\"ird"), "\"we\"\"ird\"");
        assert_eq!(quote_literal("it's"), "'it''s'");
    }

    #[test]
    fn steps_name_the_table_quoted_and_bare() {
        let steps = WITH_SCHEMAS
            .token_table_steps(
                &["CREATE TABLE {t}; CREATE INDEX \"{n}_idx\""],
                "auth.tokens",
            )
            .unwrap();
        assert_eq!(
            steps,
            ["CREATE TABLE \"auth\".\"tokens\"; CREATE INDEX \"auth_tokens_idx\""]
        );
        assert!(WITHOUT_SCHEMAS.token_table_steps(&["{t}"], "a b").is_err());
    }
}
