//! `SqliteStore`: one writer connection, a pool of readers, the quoted table
//! names, and the SQL of the bound token table, built once.

use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use auth_core::{AuditEvent, Error, PerTable, StoreError};
use auth_sql::{Dialect, Statements};
use chrono::{DateTime, Utc};
use sqlx::SqliteConnection;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::schema::sqlite_type;
use crate::tokens::TokenQueries;
use crate::users::UserTable;

/// How long a writer waits for the database lock held by another process
/// before its operation fails (writers of this process queue for the one
/// writer connection instead).
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A SQLite token and user store over one database file, bound to one
/// token table (`tokens` unless built
/// [`with_token_table`](Self::with_token_table)). Cloning shares the
/// connections.
///
/// SQLite runs one writer at a time. The store keeps one writer connection,
/// so this process's writes queue for it instead of retrying on a busy
/// database, and a pool of readers, which never wait for the writer (WAL
/// mode). Another process writing the same file waits up to the busy
/// timeout.
#[derive(Clone)]
pub struct SqliteStore {
    pub(crate) writer: SqlitePool,
    pub(crate) reader: SqlitePool,
    inner: Arc<Inner>,
    statements: Arc<Statements<TokenQueries>>,
}

#[derive(Default)]
struct Inner {
    user_table_names: PerTable<&'static str, String>,
    user_tables: PerTable<&'static str, Arc<UserTable>>,
}

/// Where SQLite's SQL differs from PostgreSQL's: no schemas, and the
/// identity's uniqueness is the lower-cased index alone.
pub(crate) const SQLITE: Dialect = Dialect {
    schemas: false,
    column_type: sqlite_type,
    primary_key: " PRIMARY KEY NOT NULL",
    unique_identity: false,
};

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("token_table", &self.statements.table())
            .field("readers", &self.reader.size())
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating when missing) the database file at `path`: WAL
    /// journal, `synchronous = FULL` (a committed revocation survives a
    /// power cut), the [`DEFAULT_BUSY_TIMEOUT`], one writer and four readers.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, Error> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .busy_timeout(DEFAULT_BUSY_TIMEOUT);
        Self::connect_with(options, 4).await
    }

    /// Opens the database a `sqlite://<path>` URL names (created when
    /// missing), as [`open`](Self::open) does. Options in the URL
    /// (`?mode=ro`, ...) are sqlx's.
    pub async fn connect(url: &str) -> Result<Self, Error> {
        if !url.starts_with("sqlite:") || url.contains("mode=memory") {
            return Err(Error::Config(format!(
                "`{url}` is not a SQLite database file URL: write `sqlite://<path>`"
            )));
        }
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| Error::Config(format!("`{url}` is not a SQLite URL: {e}")))?
            .create_if_missing(true)
            .busy_timeout(DEFAULT_BUSY_TIMEOUT);
        Self::connect_with(options, 4).await
    }

    /// Opens the database with your own options (file, busy timeout,
    /// pragmas) and `readers` reading connections. The store always sets
    /// WAL mode and `synchronous = FULL` (a revocation that returned is on
    /// disk); an in-memory database is refused (use `MemoryStore`).
    pub async fn connect_with(options: SqliteConnectOptions, readers: u32) -> Result<Self, Error> {
        let file = options.get_filename().to_string_lossy();
        if file.is_empty() || file == ":memory:" || file.starts_with("file:sqlx-in-memory") {
            return Err(Error::Config(
                "SqliteStore needs a database file (an in-memory database is private to one \
                 connection): use MemoryStore for a store that lives in memory"
                    .into(),
            ));
        }
        create_private(Path::new(&*file));
        let options = options
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full);
        let connect =
            |e: sqlx::Error| Error::Store(StoreError::new("cannot open the SQLite database", e));
        // The writer first: it creates the file and switches it to WAL.
        let writer = open_pool(
            SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1),
            options.clone(),
        )
        .await
        .map_err(connect)?;
        let reader = open_pool(
            SqlitePoolOptions::new().max_connections(readers.max(1)),
            options.create_if_missing(false),
        )
        .await
        .map_err(connect)?;
        let statements = Statements::default_table(TokenQueries::new);
        Ok(Self {
            writer,
            reader,
            inner: Arc::default(),
            statements: Arc::new(statements),
        })
    }

    /// This store bound to the token table `table` (the token resource's
    /// `table`), its statements built now; a bad name is an error here.
    /// The connections and the user tables are shared.
    pub fn with_token_table(self, table: &str) -> Result<Self, Error> {
        let statements = Statements::new(&SQLITE, table, TokenQueries::new)?;
        Ok(Self {
            statements: Arc::new(statements),
            ..self
        })
    }

    /// The writer's pool (one connection): for the application's own writes
    /// to the same file, so they queue with the store's.
    pub fn writer(&self) -> &SqlitePool {
        &self.writer
    }

    /// The readers' pool.
    pub fn reader(&self) -> &SqlitePool {
        &self.reader
    }

    /// Closes every connection (checkpointing the WAL into the file).
    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }

    /// Stores users of the resource named `subject_name` in `table`
    /// (default: the subject name plus `s`, e.g. `users`).
    pub fn with_user_table(self, subject_name: &'static str, table: &str) -> Result<Self, Error> {
        let quoted = SQLITE.quote_table(table)?;
        self.inner.user_table_names.insert(subject_name, quoted);
        Ok(self)
    }

    /// The quoted name of the user table of `subject_name`.
    pub(crate) fn user_table_name(&self, subject_name: &'static str) -> Result<String, StoreError> {
        match self.inner.user_table_names.get(subject_name) {
            Some(t) => Ok(t),
            None => SQLITE.quote_store_table(&format!("{subject_name}s")),
        }
    }

    /// User tables as read from the database (`users.rs`).
    pub(crate) fn user_tables(&self) -> &PerTable<&'static str, Arc<UserTable>> {
        &self.inner.user_tables
    }

    /// The statements of the bound token table.
    pub(crate) fn token_queries(&self) -> &TokenQueries {
        self.statements.queries()
    }

    /// The bound token table, as the token resource names it.
    pub(crate) fn bound_table(&self) -> &str {
        self.statements.table()
    }

    /// Runs `work` in one write transaction on the writer, with the time it
    /// writes as now. The transaction takes the write lock first (`BEGIN
    /// IMMEDIATE`), so nothing changes between the work's reads and its
    /// writes; it commits when `keep` says the result stands and rolls back
    /// otherwise (a token not spent leaves nothing written).
    pub(crate) async fn write<T>(
        &self,
        work: impl AsyncFnOnce(&mut SqliteConnection, DateTime<Utc>) -> Result<T, sqlx::Error>,
        keep: impl FnOnce(&T) -> bool,
    ) -> Result<T, sqlx::Error> {
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let done = work(&mut tx, Utc::now()).await?;
        if keep(&done) {
            tx.commit().await?;
        }
        Ok(done)
    }

    /// Runs a write (`work`) on the writer. With `events`, it runs in a
    /// write transaction that also appends them when `took` says the write
    /// took effect: both commit, or neither does. Without, it runs alone.
    pub(crate) async fn audited<T>(
        &self,
        events: &[AuditEvent],
        work: impl AsyncFnOnce(&mut SqliteConnection) -> Result<T, sqlx::Error>,
        took: impl FnOnce(&T) -> bool,
    ) -> Result<T, sqlx::Error> {
        if events.is_empty() {
            let mut conn = self.writer.acquire().await?;
            return work(&mut conn).await;
        }
        let write = async |tx: &mut SqliteConnection, _| {
            let done = work(tx).await?;
            if took(&done) {
                self.append_events(tx, events).await?;
            }
            Ok(done)
        };
        self.write(write, |_| true).await
    }

    /// Statements built once per subject name and variant (for the bound
    /// token table).
    pub(crate) fn sql_cache(&self) -> &PerTable<(&'static str, auth_sql::UserStatement), Arc<str>> {
        self.statements.per_user()
    }
}

/// Opens a pool, retrying while the file is busy: switching a new file to
/// WAL takes an exclusive lock that SQLite's busy timeout does not wait for,
/// so two processes opening one new file at once would otherwise fail.
/// Creates the database file, when missing, readable and writable by this
/// user only (0600 on Unix; SQLite would create it 0644). SQLite gives its
/// WAL and shared-memory files the database file's mode, so they are
/// private too. An existing file is left as it is.
/// Any other failure is left for SQLite to report when it opens the file.
fn create_private(file: &Path) {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    drop(options.open(file));
}

async fn open_pool(
    pool: SqlitePoolOptions,
    options: SqliteConnectOptions,
) -> Result<SqlitePool, sqlx::Error> {
    let started = std::time::Instant::now();
    let mut wait = Duration::from_millis(5);
    loop {
        match pool.clone().connect_with(options.clone()).await {
            Err(e) if is_busy(&e) && started.elapsed() < DEFAULT_BUSY_TIMEOUT => {
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_millis(200));
            }
            done => return done,
        }
    }
}

/// `SQLITE_BUSY` or `SQLITE_LOCKED`, extended codes included.
fn is_busy(e: &sqlx::Error) -> bool {
    let sqlx::Error::Database(db) = e else {
        return false;
    };
    db.code()
        .and_then(|c| c.parse::<i32>().ok())
        .is_some_and(|c| matches!(c & 0xff, 5 | 6))
}

pub(crate) fn db_err(context: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |e| StoreError::new(format!("sqlite: {context}"), e)
}

/// A time as the token table stores it: microseconds since the Unix epoch.
pub(crate) fn micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

/// A stored time back (out-of-range values clamp, they cannot come from us).
pub(crate) fn from_micros(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// A duration in microseconds, saturating.
pub(crate) fn duration_micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_have_no_schema() {
        assert_eq!(SQLITE.quote_table("tokens").unwrap(), "\"tokens\"");
        assert!(SQLITE.quote_table("a.b").is_err());
    }

    #[test]
    fn times_round_trip_in_microseconds() {
        let at = DateTime::from_timestamp(1_800_000_000, 123_456_000).unwrap();
        assert_eq!(from_micros(micros(at)), at);
        assert_eq!(duration_micros(Duration::from_secs(2)), 2_000_000);
    }
}
