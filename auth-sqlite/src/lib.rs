//! SQLite storage for auth-core: `SqliteStore` implements the token and user
//! stores over one database file, for single-node applications that want
//! their users and revocations to survive a restart without running a
//! database server. Each operation is one statement, or one `BEGIN
//! IMMEDIATE` transaction where SQLite cannot say it in one (the refresh
//! rotation, the password change, registration with its first tokens).
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use auth_sqlite::SqliteStore;
//!
//! let store = SqliteStore::open("app.db").await?;      // created when missing
//! store.migrate().await?;                              // idempotent
//! println!("{}", SqliteStore::token_table_sql("tokens")?); // for your own migrations
//! # Ok(()) }
//! ```

mod api_keys;
mod attempts;
mod events;
mod schema;
mod store;
mod tokens;
mod users;

pub use schema::user_table_sql;
pub use store::{DEFAULT_BUSY_TIMEOUT, SqliteStore};

/// Re-exported so applications need not depend on sqlx directly for the options.
pub use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};
