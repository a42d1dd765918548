//! Browser sessions and remember-me (`auth_tests::browser`) on `MemoryStore`,
//! `PgStore` and `SqliteStore`.

mod memory {
    auth_tests::browser_suite!(auth_tests::conformance::Memory);
}

mod postgres {
    auth_tests::browser_suite!(auth_tests::conformance::Postgres);
}

mod sqlite {
    auth_tests::browser_suite!(auth_tests::conformance::Sqlite);
}
