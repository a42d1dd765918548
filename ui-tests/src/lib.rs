//! Compile tests for the macros live in `tests/ui/`; this crate re-exports
//! `auth_core` so a pass case can show `#[authentication(crate = "...")]`.

#[doc(hidden)]
pub use auth_core as reexported_auth;
