//! The storage conformance suite on `PgStore` (DATABASE_URL, or a throwaway cluster).

auth_tests::conformance_suite!(auth_tests::pg::fresh_db());
