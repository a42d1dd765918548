//! Password reset (`auth_tests::special`) on `MemoryStore`, `PgStore` and
//! `SqliteStore`.

mod memory {
    auth_tests::special_suite!(auth_tests::conformance::Memory);
}

mod postgres {
    auth_tests::special_suite!(auth_tests::conformance::Postgres);
}

mod sqlite {
    auth_tests::special_suite!(auth_tests::conformance::Sqlite);
}
