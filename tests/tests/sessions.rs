//! The session suite (`auth_tests::sessions`) on `MemoryStore`, `PgStore`
//! and `SqliteStore`.

mod memory {
    auth_tests::session_suite!(auth_tests::conformance::Memory);
}

mod postgres {
    auth_tests::session_suite!(auth_tests::conformance::Postgres);
}

mod sqlite {
    auth_tests::session_suite!(auth_tests::conformance::Sqlite);
}
