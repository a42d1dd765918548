//! The storage conformance suite on `MemoryStore`.

auth_tests::conformance_suite!(async { auth_core::MemoryStore::new() });
