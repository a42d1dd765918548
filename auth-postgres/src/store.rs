//! `PgStore`: a pool, the quoted table names, and the SQL built once per table.

use std::fmt;
use std::sync::Arc;

use auth_core::{AuditEvent, Error, PerTable, StoreError, UserResource};
use auth_sql::{Dialect, Statements};
use sqlx::PgConnection;
use sqlx::postgres::{PgPool, PgPoolOptions};

use crate::schema::pg_type;
use crate::tokens::TokenQueries;
use crate::user_row::{UserRow, is_stale};

/// A PostgreSQL token and user store, bound to one token table (`tokens`
/// unless built [`with_token_table`](Self::with_token_table)). Cloning
/// shares the pool.
#[derive(Clone)]
pub struct PgStore {
    pub(crate) pool: PgPool,
    user_tables: Arc<PerTable<&'static str, Arc<str>>>,
    user_rows: Arc<PerTable<&'static str, Arc<UserRow>>>,
    statements: Arc<Statements<TokenQueries>>,
}

/// Where PostgreSQL's SQL differs from SQLite's.
pub(crate) const POSTGRES: Dialect = Dialect {
    schemas: true,
    column_type: pg_type,
    primary_key: " PRIMARY KEY",
    unique_identity: true,
};

impl fmt::Debug for PgStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgStore")
            .field("token_table", &self.statements.table())
            .field("pool_size", &self.pool.size())
            .finish()
    }
}

impl PgStore {
    /// A store over an existing pool, bound to the token table `tokens`.
    pub fn new(pool: PgPool) -> Self {
        let statements = Statements::default_table(TokenQueries::new);
        Self {
            pool,
            user_tables: Arc::default(),
            user_rows: Arc::default(),
            statements: Arc::new(statements),
        }
    }

    /// This store bound to the token table `table` (the token resource's
    /// `table`: `name` or `schema.name`), its statements built now; a bad
    /// name is an error here. The pool and the user tables are shared.
    pub fn with_token_table(self, table: &str) -> Result<Self, Error> {
        let statements = Statements::new(&POSTGRES, table, TokenQueries::new)?;
        Ok(Self {
            statements: Arc::new(statements),
            ..self
        })
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
        let quoted = POSTGRES.quote_table(table)?;
        self.user_tables.insert(subject_name, quoted.into());
        self.forget_user_row(subject_name);
        Ok(self)
    }

    /// The columns of the user table of `U`, read from the catalogue on
    /// first use.
    pub(crate) async fn user_row<U: UserResource>(&self) -> Result<Arc<UserRow>, StoreError> {
        if let Some(row) = self.user_rows.get(U::SUBJECT_NAME) {
            return Ok(row);
        }
        let table = self.user_table(U::SUBJECT_NAME)?;
        let row = Arc::new(UserRow::of(&self.pool, &table, U::PRIMARY_KEY_FIELD).await?);
        self.user_rows.insert(U::SUBJECT_NAME, row.clone());
        Ok(row)
    }

    /// Forgets the user table's columns (and the statements built from
    /// them).
    fn forget_user_row(&self, subject_name: &'static str) {
        self.user_rows.remove(subject_name);
    }

    /// Whether a statement reading the user of `U` by its columns
    /// ([`UserRow`]) should run again, after failing with `e` on its
    /// `tries`-th try: once, when it named a column dropped since they
    /// were read (they are forgotten, to be read again).
    pub(crate) fn again<U: UserResource>(&self, e: &sqlx::Error, tries: usize) -> bool {
        let again = tries == 1 && is_stale(e);
        if again {
            self.forget_user_row(U::SUBJECT_NAME);
        }
        again
    }

    pub(crate) fn user_table(&self, subject_name: &'static str) -> Result<Arc<str>, StoreError> {
        self.user_tables.get_or_try_insert(subject_name, || {
            let quoted = POSTGRES.quote_store_table(&format!("{subject_name}s"))?;
            Ok((subject_name, quoted.into()))
        })
    }

    /// The statements of the bound token table.
    pub(crate) fn token_queries(&self) -> &TokenQueries {
        self.statements.queries()
    }

    /// The bound token table, as the token resource names it.
    pub(crate) fn bound_table(&self) -> &str {
        self.statements.table()
    }

    /// Runs a write (`work`, one statement). With `events`, it runs in a
    /// transaction that also appends them when `took` says the write took
    /// effect: both commit, or neither does. Without, the statement runs
    /// alone, as it would on the pool.
    pub(crate) async fn audited<T>(
        &self,
        events: &[AuditEvent],
        work: impl AsyncFnOnce(&mut PgConnection) -> Result<T, sqlx::Error>,
        took: impl FnOnce(&T) -> bool,
    ) -> Result<T, sqlx::Error> {
        if events.is_empty() {
            let mut conn = self.pool.acquire().await?;
            return work(&mut conn).await;
        }
        let mut tx = self.pool.begin().await?;
        let done = work(&mut tx).await?;
        if took(&done) {
            self.append_events(&mut tx, events).await?;
        }
        tx.commit().await?;
        Ok(done)
    }
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
