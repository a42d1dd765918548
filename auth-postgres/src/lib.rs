//! PostgreSQL storage backend for auth-core. Not built yet: see the README's
//! known gaps. The crate exists so the workspace layout is final.
