//! The demo HTTP API (its routes are listed in the README).
//!
//! ```text
//! cargo run -p server                 # serve (in-memory store unless DATABASE_URL is set)
//! cargo run -p server -- migrate      # apply the PostgreSQL schema
//! cargo run -p server -- expunge      # delete expired token rows once, print how many
//! ```
//!
//! Environment: `BIND` (default `127.0.0.1:3000`), `DATABASE_URL`,
//! `TOKEN_SIGNING_SECRET` (at least 32 bytes; required with PostgreSQL
//! unless `TOKEN_KEYS_FILE` names a key set; random with a warning on the
//! in-memory store), `RUST_LOG`, and the
//! limits of [`serve::Limits`]: `HEADER_READ_TIMEOUT` (30s),
//! `REQUEST_TIMEOUT` (30s), `MAX_CONNECTIONS` (1024), `SHUTDOWN_DEADLINE`
//! (10s), `HASH_CONCURRENCY` (password hashes at once, default: cores).

mod app;
mod model;
mod serve;

use std::process::ExitCode;
use std::sync::Arc;

use auth_core::{
    Auth, Authenticated, HashLimits, KeySet, MemoryStore, PasswordStore, Secret, TokenResource,
    TokenStore, spawn_expunger,
};
use auth_postgres::PgStore;

use crate::model::{Token, User};

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
        Some(url) => match connect(&url).await {
            Ok(store) => run(&command, store, true).await,
            Err(e) => Err(e),
        },
        None => run(&command, MemoryStore::new(), false).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn connect(url: &str) -> Result<PgStore, String> {
    let store = PgStore::connect(url).await.map_err(|e| e.to_string())?;
    store
        .migrate(&[&Token::CONFIG.table])
        .await
        .map_err(|e| e.to_string())?;
    store
        .create_user_table::<User>()
        .await
        .map_err(|e| e.to_string())?;
    Ok(store)
}

async fn run<S>(command: &str, store: S, persistent: bool) -> Result<(), String>
where
    S: TokenStore + PasswordStore<User> + Clone + 'static,
{
    match command {
        "serve" => serve(store, persistent).await,
        "migrate" => {
            if persistent {
                println!("schema is up to date");
            } else {
                println!("in-memory store: nothing to migrate (set DATABASE_URL)");
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

fn secret(persistent: bool) -> Result<Secret, String> {
    match std::env::var("TOKEN_SIGNING_SECRET") {
        Ok(s) if !s.trim().is_empty() => Ok(Secret::from(s)),
        _ if !persistent => {
            tracing::warn!(
                "TOKEN_SIGNING_SECRET is not set: using a random secret; tokens die with this process"
            );
            Secret::random().map_err(|e| e.to_string())
        }
        _ => Err(
            "TOKEN_SIGNING_SECRET (or TOKEN_KEYS_FILE) must be set when using PostgreSQL".into(),
        ),
    }
}

async fn serve<S>(store: S, persistent: bool) -> Result<(), String>
where
    S: TokenStore + PasswordStore<User> + Clone + 'static,
{
    let limits = serve::Limits::from_env()?;
    let auth = match std::env::var("TOKEN_KEYS_FILE")
        .ok()
        .filter(|p| !p.is_empty())
    {
        // A key set overrides TOKEN_SIGNING_SECRET, which (when set) still
        // verifies the tokens without `kid` issued before the key file.
        Some(path) => {
            let keys = KeySet::from_file(&path).map_err(|e| e.to_string())?;
            tracing::info!(path = %path, active = keys.active().kid(), "signing with a key set");
            Auth::with_keys(User::settings(), &keys, store.clone())
        }
        None => Auth::with_secret(User::settings(), &secret(persistent)?, store.clone()),
    }
    .and_then(|a| a.with_hash_limits(hash_limits()?))
    .map_err(|e| e.to_string())?;
    let hasher = auth.hasher();
    tracing::info!(
        max_concurrent = hasher.limits().max_concurrent,
        peak_argon2_mib = hasher.peak_memory_bytes() / (1024 * 1024),
        "password hashing bounded"
    );
    let bind = std::env::var("BIND").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let listener = tokio::net::TcpListener::bind(&bind)
        .await
        .map_err(|e| format!("cannot bind {bind}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let expunger = spawn_expunger(store, Token::CONFIG);
    let store_name = if persistent {
        "PostgreSQL"
    } else {
        "in-memory"
    };
    println!("listening on http://{addr} ({store_name} store)");
    tracing::info!(%addr, store = store_name, ?limits, "serving");
    serve::serve(
        listener,
        app::router(Arc::new(auth)),
        limits,
        shutdown_signal(),
    )
    .await;
    expunger.shutdown().await;
    tracing::info!("stopped");
    Ok(())
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
