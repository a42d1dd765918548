//! Sessions, rotating refresh tokens with reuse detection, and the device
//! list: the same cases on `MemoryStore`, `PgStore` and `SqliteStore`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod memory {
    type Store = auth_core::MemoryStore;
    type Guard = ();

    async fn backend() -> (Guard, Store) {
        ((), auth_core::MemoryStore::new())
    }

    include!("cases/sessions.rs");
}

mod postgres {
    type Store = auth_postgres::PgStore;
    type Guard = auth_tests::pg::TestDb;

    async fn backend() -> (Guard, Store) {
        let db = auth_tests::pg::fresh_db().await;
        let store = db.store.clone();
        (db, store)
    }

    include!("cases/sessions.rs");
}

mod sqlite {
    type Store = auth_sqlite::SqliteStore;
    type Guard = auth_tests::sqlite::TestSqlite;

    async fn backend() -> (Guard, Store) {
        let db = auth_tests::sqlite::fresh_db().await;
        let store = db.store.clone();
        (db, store)
    }

    include!("cases/sessions.rs");
}
