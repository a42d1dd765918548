//! `PgStore`: a pool, the quoted table names, and the SQL built once per table.

use std::fmt;
use std::sync::Arc;

use auth_core::{Error, PerTable, StoreError};
use sqlx::postgres::{PgPool, PgPoolOptions};

use crate::tokens::TokenQueries;

/// A PostgreSQL token and user store. Cloning shares the pool.
#[derive(Clone)]
pub struct PgStore {
    pub(crate) pool: PgPool,
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    token_queries: PerTable<String, Arc<TokenQueries>>,
    user_tables: PerTable<&'static str, Arc<str>>,
    /// Per (token table, subject name) statements, e.g. the authenticate query.
    pub(crate) sql: PerTable<(String, &'static str), Arc<str>>,
}

impl fmt::Debug for PgStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgStore")
            .field("pool_size", &self.pool.size())
            .finish()
    }
}

impl PgStore {
    /// A store over an existing pool.
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            inner: Arc::default(),
        }
    }

    /// Connects a pool (10 connections) to `url`.
    pub async fn connect(url: &str) -> Result<Self, Error> {
        let pool = PgPoolOptions::new()
            .max_connections(10)
            .connect(url)
            .await
            .map_err(|e| Error::Store(StoreError::new("cannot connect to PostgreSQL", e)))?;
        Ok(Self::new(pool))
    }

    /// The pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Stores users of the resource named `subject_name` in `table`
    /// (default: the subject name plus `s`, e.g. `users`).
    pub fn with_user_table(self, subject_name: &'static str, table: &str) -> Result<Self, Error> {
        let quoted = quote_table(table)?;
        self.inner.user_tables.insert(subject_name, quoted.into());
        Ok(self)
    }

    pub(crate) fn user_table(&self, subject_name: &'static str) -> Result<Arc<str>, StoreError> {
        self.inner.user_tables.get_or_try_insert(subject_name, || {
            let quoted = quote_table(&format!("{subject_name}s"))
                .map_err(|e| StoreError::msg(e.to_string()))?;
            Ok((subject_name, quoted.into()))
        })
    }

    pub(crate) fn token_queries(&self, table: &str) -> Result<Arc<TokenQueries>, StoreError> {
        self.inner.token_queries.get_or_try_insert(table, || {
            let quoted = quote_table(table).map_err(|e| StoreError::msg(e.to_string()))?;
            Ok((table.to_owned(), Arc::new(TokenQueries::new(&quoted))))
        })
    }

    /// Statements built once per (token table, subject name).
    pub(crate) fn sql_cache(&self) -> &PerTable<(String, &'static str), Arc<str>> {
        &self.inner.sql
    }
}

/// Quotes `table` or `schema.table` for SQL; anything but ASCII letters,
/// digits and `_` (not leading digit) is refused, so names cannot inject SQL.
pub(crate) fn quote_table(table: &str) -> Result<String, Error> {
    let parts: Vec<&str> = table.split('.').collect();
    let valid = |p: &&str| {
        !p.is_empty()
            && p.len() <= 63
            && !p.starts_with(|c: char| c.is_ascii_digit())
            && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    if parts.len() > 2 || !parts.iter().all(valid) {
        return Err(Error::Config(format!(
            "table name `{table}` must be `name` or `schema.name` of letters, digits and `_`"
        )));
    }
    Ok(parts
        .iter()
        .map(|p| format!("\"{p}\""))
        .collect::<Vec<_>>()
        .join("."))
}

/// Quotes a column name taken from a serialized user (any text): doubles `"`.
pub(crate) fn quote_column(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

pub(crate) fn db_err(context: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |e| {
        // A value PostgreSQL cannot hold (a NUL byte in text or jsonb) is the
        // input's fault: invalid input (422), not an outage.
        let unholdable = matches!(&e, sqlx::Error::Database(db)
            if matches!(db.code().as_deref(), Some("22P05" | "22021")));
        if unholdable {
            StoreError::invalid_input(
                format!("postgres: {context}: a value holds characters PostgreSQL cannot store"),
                e,
            )
        } else {
            StoreError::new(format!("postgres: {context}"), e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_are_quoted_or_refused() {
        assert_eq!(quote_table("tokens").unwrap(), "\"tokens\"");
        assert_eq!(quote_table("auth.tokens").unwrap(), "\"auth\".\"tokens\"");
        for bad in [
            "",
            "a.b.c",
            "to\"kens",
            "tokens; drop table x",
            "1tokens",
            "t-x",
        ] {
            assert!(quote_table(bad).is_err(), "{bad}");
        }
        assert_eq!(quote_column("we\"ird"), "\"we\"\"ird\"");
    }
}
