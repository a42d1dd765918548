//! PostgreSQL storage for auth-core: `PgStore` implements the token and user
//! stores with one SQL statement per operation, owns its schema (versioned,
//! applied under an advisory lock), and expunges in batches, one node at a time per table.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use auth_postgres::PgStore;
//!
//! let store = PgStore::connect("postgres://postgres@127.0.0.1:5432/app").await?;
//! store.migrate().await?;                     // idempotent, safe from several nodes
//! println!("{}", PgStore::token_table_sql("tokens")?); // for teams with their own migrations
//! # Ok(()) }
//! ```
//!
//! # Features
//!
//! - `cache`: `PgStore::listen_for_invalidations`, the LISTEN/NOTIFY
//!   listener that keeps every node's `auth_core::AuthCache` true
//!   (turns on `auth-core/cache`).

mod api_keys;
mod attempts;
#[cfg(feature = "cache")]
mod cache;
mod events;
mod schema;
mod store;
mod tokens;
mod user_row;
mod users;

#[cfg(feature = "cache")]
pub use cache::{HEARTBEAT, InvalidationListener, invalidation_channel};
pub use schema::user_table_sql;
pub use store::PgStore;

/// Re-exported so applications need not depend on sqlx directly for the pool.
pub use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
