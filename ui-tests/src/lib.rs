//! Compile tests for the macros live in `tests/`.
