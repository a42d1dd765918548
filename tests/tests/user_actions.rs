//! The user-action suite (`auth_tests::user_actions`) on `MemoryStore`,
//! `PgStore` and `SqliteStore`.

mod memory {
    auth_tests::user_action_suite!(async { auth_core::MemoryStore::new() });
}

mod postgres {
    auth_tests::user_action_suite!(auth_tests::pg::fresh_db());
}

mod sqlite {
    auth_tests::user_action_suite!(auth_tests::sqlite::fresh_db());
}
