//! The demo HTTP API (its routes are listed in the README).
//!
//! ```text
//! cargo run -p server                 # serve (in-memory store unless DATABASE_URL is set)
//! cargo run -p server -- migrate      # apply the PostgreSQL or SQLite schema
//! cargo run -p server -- expunge      # delete expired token rows once, print how many
//! ```
//!
//! Environment: `BIND` (default `127.0.0.1:3000`), `DATABASE_URL`
//! (`postgres://...`, or `sqlite://<file>`, created when missing),
//! `TOKEN_SIGNING_SECRET` (at least 32 bytes; required with PostgreSQL
//! unless `TOKEN_KEYS_FILE` names a key set; with SQLite, when unset, a
//! secret is generated once and kept in `<file>.secret`, mode 0600, beside
//! the database; random with a warning on the in-memory store), `RUST_LOG`, and the
//! limits of [`serve::Limits`]: `HEADER_READ_TIMEOUT` (30s),
//! `REQUEST_TIMEOUT` (30s), `MAX_CONNECTIONS` (1024), `SHUTDOWN_DEADLINE`
//! (10s), `HASH_CONCURRENCY` (password hashes at once, default: cores),
//! `SECURE_COOKIES` (`true` behind https: the cookies get `Secure`),
//! `OUTBOX` (a file the demo's "mail" is appended to, one JSON line per
//! message; without it, `dev mail:` lines on standard output),
//! `BRUTE_FORCE=off` (no lockout: for load tests from one address).

mod app;
mod model;
mod outbox;
mod pages;
mod serve;
mod tenants;

use std::process::ExitCode;
use std::sync::Arc;

use auth_core::{
    Auth, Authenticated, HashLimits, KeySet, MemoryStore, Secret, TokenResource, spawn_expunger,
};
use auth_postgres::PgStore;
use auth_sqlite::SqliteStore;

use crate::model::{Member, Store, Token, User};

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let command = std::env::args().nth(1).unwrap_or_else(|| "serve".into());
    let result = match std::env::var("DATABASE_URL").ok().filter(|u| !u.is_empty()) {
        Some(url) if url.starts_with("sqlite:") => match connect_sqlite(&url).await {
            Ok((store, file)) => run(&command, store, Backend::Sqlite(file)).await,
            Err(e) => Err(e),
        },
        Some(url) => match connect(&url).await {
            Ok(store) => run(&command, store, Backend::Postgres).await,
            Err(e) => Err(e),
        },
        None => run(&command, MemoryStore::new(), Backend::Memory).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Connects a SQL store (`PgStore` or `SqliteStore`, which share these
/// inherent methods) and brings its schema up to date.
macro_rules! connect_and_migrate {
    ($store:ty, $url:expr) => {
        async {
            let store = <$store>::connect($url)
                .await
                .and_then(|s| s.with_token_table(&Token::CONFIG.table))
                .map_err(|e| e.to_string())?;
            store.migrate().await.map_err(|e| e.to_string())?;
            store
                .create_user_table::<User>()
                .await
                .map_err(|e| e.to_string())?;
            store
                .create_user_table::<Member>()
                .await
                .map_err(|e| e.to_string())?;
            Ok::<_, String>(store)
        }
    };
}

async fn connect(url: &str) -> Result<PgStore, String> {
    connect_and_migrate!(PgStore, url).await
}

/// Where users and tokens live.
enum Backend {
    Memory,
    Postgres,
    /// The database file.
    Sqlite(std::path::PathBuf),
}

impl Backend {
    fn name(&self) -> &'static str {
        match self {
            Self::Memory => "in-memory",
            Self::Postgres => "PostgreSQL",
            Self::Sqlite(_) => "SQLite",
        }
    }
}

async fn connect_sqlite(url: &str) -> Result<(SqliteStore, std::path::PathBuf), String> {
    let store = connect_and_migrate!(SqliteStore, url).await?;
    let file = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let file = file.split('?').next().unwrap_or(file);
    Ok((store, file.into()))
}

async fn run<S: Store + Clone>(command: &str, store: S, backend: Backend) -> Result<(), String> {
    match command {
        "serve" => serve(store, backend).await,
        "migrate" => {
            if let Backend::Memory = backend {
                println!("in-memory store: nothing to migrate (set DATABASE_URL)");
            } else {
                println!("schema is up to date");
            }
            Ok(())
        }
        "expunge" => {
            let n = Token::expunge_expired(&store)
                .await
                .map_err(|e| e.to_string())?;
            println!("removed {n} expired token rows");
            Ok(())
        }
        other => Err(format!(
            "unknown command `{other}`: use serve, migrate or expunge"
        )),
    }
}

fn secret(backend: &Backend) -> Result<Secret, String> {
    match std::env::var("TOKEN_SIGNING_SECRET") {
        Ok(s) if !s.trim().is_empty() => Ok(Secret::from(s)),
        _ => match backend {
            Backend::Memory => {
                tracing::warn!(
                    "TOKEN_SIGNING_SECRET is not set: using a random secret; tokens die with this process"
                );
                Secret::random().map_err(|e| e.to_string())
            }
            Backend::Sqlite(file) => secret_beside(file),
            Backend::Postgres => Err(
                "TOKEN_SIGNING_SECRET (or TOKEN_KEYS_FILE) must be set when using PostgreSQL"
                    .into(),
            ),
        },
    }
}

/// The secret kept beside a SQLite database (`<file>.secret`): generated
/// once, readable by this user only (a looser file is refused), so tokens
/// outlive a restart as the database does. Several nodes (PostgreSQL) need
/// the secret from their environment instead.
fn secret_beside(database: &std::path::Path) -> Result<Secret, String> {
    let mut path = database.as_os_str().to_owned();
    path.push(".secret");
    Secret::from_file_or_generate(std::path::Path::new(&path)).map_err(|e| e.to_string())
}

async fn serve<S: Store + Clone>(store: S, backend: Backend) -> Result<(), String> {
    let limits = serve::Limits::from_env()?;
    let secure = secure_cookies()?;
    let bind = std::env::var("BIND").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let listener = tokio::net::TcpListener::bind(&bind)
        .await
        .map_err(|e| format!("cannot bind {bind}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let mut settings =
        User::settings().with_sender(outbox::Outbox::from_env(format!("http://{addr}")));
    if let Some(remember_me) = settings.remember_me.as_mut() {
        remember_me.secure = secure;
    }
    match std::env::var("BRUTE_FORCE").ok().as_deref() {
        None | Some("" | "on") => {}
        Some("off") => settings.brute_force = None,
        Some(other) => return Err(format!("BRUTE_FORCE is `on` or `off`, not `{other}`")),
    }
    let keys = match std::env::var("TOKEN_KEYS_FILE")
        .ok()
        .filter(|p| !p.is_empty())
    {
        // A key set overrides TOKEN_SIGNING_SECRET, which (when set) still
        // verifies the tokens without `kid` issued before the key file.
        Some(path) => {
            let keys = KeySet::from_file(&path).map_err(|e| e.to_string())?;
            tracing::info!(path = %path, active = keys.active().kid(), "signing with a key set");
            Signing::Keys(keys)
        }
        None => Signing::Secret(secret(&backend)?),
    };
    let auth = keys
        .auth(settings, store.clone())
        .and_then(|a| a.with_hash_limits(hash_limits()?))
        .map_err(|e| e.to_string())?
        .store_audit_events();
    // The tenants' members (`/t/...`), signed with the same keys.
    let members = keys
        .auth(Member::settings(), store.clone())
        .and_then(|a| a.with_hash_limits(hash_limits()?))
        .map_err(|e| e.to_string())?;
    let hasher = auth.hasher();
    tracing::info!(
        max_concurrent = hasher.limits().max_concurrent,
        peak_argon2_mib = hasher.peak_memory_bytes() / (1024 * 1024),
        "password hashing bounded"
    );
    let expunger = spawn_expunger(store, Token::CONFIG);
    let store_name = backend.name();
    println!("listening on http://{addr} ({store_name} store)");
    tracing::info!(%addr, store = store_name, ?limits, "serving");
    let auth = Arc::new(auth);
    let events = auth.clone();
    serve::serve(
        listener,
        app::router(auth, Arc::new(members), pages::Pages::new(secure)),
        limits,
        shutdown_signal(),
    )
    .await;
    expunger.shutdown().await;
    if let Err(e) = events.flush_audit_events().await {
        tracing::warn!(error = %e, "the last security events were not stored");
    }
    tracing::info!("stopped");
    Ok(())
}

/// What tokens are signed with: a key set, or a secret.
enum Signing {
    Keys(KeySet),
    Secret(Secret),
}

impl Signing {
    fn auth<U: auth_core::UserResource, S: Store>(
        &self,
        settings: auth_core::Settings<U>,
        store: S,
    ) -> auth_core::Result<Auth<U, S>> {
        match self {
            Self::Keys(keys) => Auth::with_keys(settings, keys, store),
            Self::Secret(secret) => Auth::with_secret(settings, secret, store),
        }
    }
}

/// `SECURE_COOKIES`: `true` when the demo is served over https (behind a
/// TLS proxy), adding `Secure` to its cookies; default `false`.
fn secure_cookies() -> Result<bool, String> {
    match std::env::var("SECURE_COOKIES").ok().as_deref() {
        None | Some("" | "0" | "false") => Ok(false),
        Some("1" | "true") => Ok(true),
        Some(other) => Err(format!(
            "SECURE_COOKIES must be true or false, not {other:?}"
        )),
    }
}

/// `HASH_CONCURRENCY`: password hashes at once (default: the cores).
fn hash_limits() -> auth_core::Result<HashLimits> {
    let mut limits = HashLimits::default();
    if let Ok(v) = std::env::var("HASH_CONCURRENCY") {
        limits.max_concurrent = v.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
            auth_core::Error::Config("HASH_CONCURRENCY must be a positive integer".into())
        })?;
    }
    Ok(limits)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
