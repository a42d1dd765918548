//! SQLite for tests: a database file of its own per test, in the temporary
//! directory, removed (with its WAL files) when the guard goes.

use std::path::PathBuf;

use auth_sqlite::SqliteStore;

/// A store on a fresh database file; the files are removed on drop.
#[derive(Debug)]
pub struct TestSqlite {
    pub store: SqliteStore,
    pub path: PathBuf,
}

impl Drop for TestSqlite {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut p = self.path.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(p);
        }
    }
}

/// A fresh database file's path (nothing created yet).
pub fn fresh_path() -> PathBuf {
    std::env::temp_dir().join(format!("auth-tests-{}.db", uuid::Uuid::new_v4().simple()))
}

/// A `SqliteStore` on a fresh file, with the token tables and the test users table.
pub async fn fresh_db() -> TestSqlite {
    let path = fresh_path();
    let store = SqliteStore::open(&path).await.expect("open sqlite");
    for table in ["tokens", "other_tokens", "legacy_tokens"] {
        let bound = store.clone().with_token_table(table).expect("a valid name");
        bound.migrate().await.expect("migrate");
    }
    sqlx::raw_sql(
        // `confirmed_at` (nullable) for the demo's confirmation add-on.
        "CREATE TABLE users (id TEXT PRIMARY KEY NOT NULL, email TEXT NOT NULL UNIQUE, \
         hashed_password TEXT NOT NULL, role TEXT NOT NULL, confirmed_at TEXT)",
    )
    .execute(store.writer())
    .await
    .expect("users table");
    TestSqlite { store, path }
}
