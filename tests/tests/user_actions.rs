//! The user actions `#[derive(Authenticated)]` generates: registration,
//! password sign-in, sign-in tokens, extra claims, password change and log
//! out everywhere; the same cases on `MemoryStore`, `PgStore` and `SqliteStore`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod memory {
    type Store = auth_core::MemoryStore;
    type Guard = ();

    async fn backend() -> (Guard, Store) {
        ((), auth_core::MemoryStore::new())
    }

    /// Memory tables need no schema.
    #[allow(clippy::extra_unused_type_parameters)]
    async fn create_user_table<U>(_: &Store) {}

    async fn token_count(store: &Store) -> usize {
        store.token_count("tokens")
    }

    include!("cases/user_actions.rs");
}

mod postgres {
    type Store = auth_postgres::PgStore;
    type Guard = auth_tests::pg::TestDb;

    async fn backend() -> (Guard, Store) {
        let db = auth_tests::pg::fresh_db().await;
        let store = db.store.clone();
        (db, store)
    }

    async fn create_user_table<U: auth_core::UserResource>(store: &Store) {
        store.create_user_table::<U>().await.unwrap();
    }

    async fn token_count(store: &Store) -> usize {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM tokens")
            .fetch_one(store.pool())
            .await
            .unwrap();
        usize::try_from(n).unwrap()
    }

    include!("cases/user_actions.rs");
}

mod sqlite {
    type Store = auth_sqlite::SqliteStore;
    type Guard = auth_tests::sqlite::TestSqlite;

    async fn backend() -> (Guard, Store) {
        let db = auth_tests::sqlite::fresh_db().await;
        let store = db.store.clone();
        (db, store)
    }

    async fn create_user_table<U: auth_core::UserResource>(store: &Store) {
        store.create_user_table::<U>().await.unwrap();
    }

    async fn token_count(store: &Store) -> usize {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM tokens")
            .fetch_one(store.reader())
            .await
            .unwrap();
        usize::try_from(n).unwrap()
    }

    include!("cases/user_actions.rs");
}
