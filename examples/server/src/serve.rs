//! Serving with limits a hostile client cannot outwait: a header-read
//! timeout, a request timeout, a connection limit, and a graceful shutdown
//! with a deadline. (`axum::serve` sets none of these.)

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use auth_core::Lifetime;
use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// The limits, from the environment (durations as `30s`, `2m`...).
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// A client that has not sent a request's headers within this is
    /// disconnected (`HEADER_READ_TIMEOUT`, default 30 s).
    pub header_read_timeout: Duration,
    /// A request (body read and handler) that takes longer gets 408
    /// (`REQUEST_TIMEOUT`, default 30 s).
    pub request_timeout: Duration,
    /// Connections served at once; more wait in the listen backlog
    /// (`MAX_CONNECTIONS`, default 1024).
    pub max_connections: usize,
    /// After SIGTERM, open connections get this long to finish, then the
    /// process exits anyway (`SHUTDOWN_DEADLINE`, default 10 s).
    pub shutdown_deadline: Duration,
}

impl Limits {
    pub fn from_env() -> Result<Self, String> {
        fn duration(name: &str, default: u64) -> Result<Duration, String> {
            match std::env::var(name) {
                Ok(v) => Lifetime::parse(&v)
                    .ok()
                    .filter(|l| !l.is_zero())
                    .map(Lifetime::as_duration)
                    .ok_or_else(|| format!("{name} must be a positive duration such as \"30s\"")),
                Err(_) => Ok(Duration::from_secs(default)),
            }
        }
        let max_connections = match std::env::var("MAX_CONNECTIONS") {
            Ok(v) => v
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=Semaphore::MAX_PERMITS).contains(n))
                .ok_or("MAX_CONNECTIONS must be a positive integer")?,
            Err(_) => 1024,
        };
        Ok(Self {
            header_read_timeout: duration("HEADER_READ_TIMEOUT", 30)?,
            request_timeout: duration("REQUEST_TIMEOUT", 30)?,
            max_connections,
            shutdown_deadline: duration("SHUTDOWN_DEADLINE", 10)?,
        })
    }
}

/// Answers 408 to a request still running after `limit` (a client dribbling
/// its body, or a handler stuck behind the database).
pub fn with_request_timeout(router: Router, limit: Duration) -> Router {
    router.layer(axum::middleware::from_fn(
        move |req: axum::extract::Request, next: axum::middleware::Next| async move {
            match tokio::time::timeout(limit, next.run(req)).await {
                Ok(response) => response,
                Err(_) => (
                    StatusCode::REQUEST_TIMEOUT,
                    axum::Json(serde_json::json!({"error": "request_timeout"})),
                )
                    .into_response(),
            }
        },
    ))
}

/// Serves `router` on `listener` until `shutdown` completes, then lets open
/// connections finish for at most `limits.shutdown_deadline`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let router = with_request_timeout(router, limits.request_timeout);
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Handlers see the peer address (`ConnectInfo`), e.g. for the
        // session row a sign-in opens.
        let service = TowerToHyperService::new(
            router
                .clone()
                .layer(axum::Extension(axum::extract::ConnectInfo(peer))),
        );
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    let open = graceful.count();
    if tokio::time::timeout(limits.shutdown_deadline, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            open,
            deadline = ?limits.shutdown_deadline,
            "connections still open at the shutdown deadline: closing them"
        );
    }
}
