//! Sessions, rotating refresh tokens with reuse detection, and the device
//! list: the same cases on `MemoryStore` and on `PgStore`.
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
