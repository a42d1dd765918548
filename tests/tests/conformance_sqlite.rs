//! The storage conformance suite on `SqliteStore` (a temporary file per test).

auth_tests::conformance_suite!(auth_tests::sqlite::fresh_db());
