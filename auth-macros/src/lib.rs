//! Procedural macros for `auth-core`. Use them through `auth_core`, which re-exports them.
