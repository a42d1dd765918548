//! The expunger: a background task deleting, every interval, expired token
//! rows, failed-attempt counters whose window and lock have passed, and API
//! keys that can never authenticate again (revoked or expired).

use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::TokenResourceConfig;
use crate::store::{ApiKeyStore, AttemptStore};
use crate::token::expunge_expired;

/// A running expunger. Dropping it leaves the task running; call
/// [`ExpungerHandle::shutdown`] for a graceful stop.
#[derive(Debug)]
pub struct ExpungerHandle {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl ExpungerHandle {
    /// Stops the task after its current round (a round in progress finishes)
    /// and waits for it.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "expunger task ended abnormally");
        }
    }
}

/// Spawns an expunger for one token resource on the current tokio runtime,
/// running `expunge_expired`, [`expunge_expired_attempts`] and
/// [`expunge_dead_api_keys`] every `resource.expunge_interval`, the first
/// time one interval after start.
/// Errors are logged and retried next round.
pub fn spawn_expunger<S>(store: S, resource: TokenResourceConfig) -> ExpungerHandle
where
    S: ApiKeyStore + AttemptStore + 'static,
{
    spawn_expunger_every(store, resource.expunge_interval, resource)
}

/// The shortest interval an expunger runs at: a zero interval (which would
/// spin, and panics tokio's timer) is raised to it.
pub const MIN_EXPUNGE_INTERVAL: Duration = Duration::from_millis(10);

/// Like [`spawn_expunger`] with an explicit interval (tests, operators).
/// Intervals below [`MIN_EXPUNGE_INTERVAL`] are raised to it, with a warning.
pub fn spawn_expunger_every<S>(
    store: S,
    interval: Duration,
    resource: TokenResourceConfig,
) -> ExpungerHandle
where
    S: ApiKeyStore + AttemptStore + 'static,
{
    if interval < MIN_EXPUNGE_INTERVAL {
        tracing::warn!(
            ?interval,
            min = ?MIN_EXPUNGE_INTERVAL,
            "expunge interval too short; using the minimum"
        );
    }
    let interval = interval.max(MIN_EXPUNGE_INTERVAL);
    let (stop, mut stopped) = watch::channel(false);
    let task = tokio::spawn(async move {
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stopped.changed() => break,
                _ = ticker.tick() => {}
            }
            match expunge_expired(&store, &resource).await {
                Ok(n) => {
                    tracing::info!(table = %resource.table, removed = n, "expunged expired tokens")
                }
                Err(e) => {
                    tracing::warn!(table = %resource.table, error = %e, "expunge failed; retrying next round")
                }
            }
            match expunge_dead_api_keys(&store).await {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!(table = %resource.table, removed = n, "expunged dead API keys")
                }
                Err(e) => {
                    tracing::warn!(table = %resource.table, error = %e, "expunging API keys failed; retrying next round")
                }
            }
            match expunge_expired_attempts(&store).await {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!(table = %resource.table, removed = n, "expunged attempt counters")
                }
                Err(e) => {
                    tracing::warn!(table = %resource.table, error = %e, "expunging attempt counters failed; retrying next round")
                }
            }
        }
    });
    ExpungerHandle { stop, task }
}

/// How many rows one batch of [`expunge_expired_attempts`],
/// [`expunge_dead_api_keys`] or the event retention sweep deletes.
pub(crate) const DELETE_BATCH: usize = 1_000;

/// Runs `delete(DELETE_BATCH)` until a batch deletes fewer rows than it
/// may; how many in all.
pub(crate) async fn in_batches<F, Fut>(mut delete: F) -> Result<u64, crate::error::StoreError>
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = Result<u64, crate::error::StoreError>>,
{
    let mut total = 0;
    loop {
        let n = delete(DELETE_BATCH).await?;
        total += n;
        if n < DELETE_BATCH as u64 {
            return Ok(total);
        }
    }
}

/// Deletes every failed-attempt counter whose window and lock have passed,
/// in batches; how many.
pub async fn expunge_expired_attempts<S: AttemptStore>(store: &S) -> crate::Result<u64> {
    in_batches(|n| store.delete_expired_attempts(n))
        .await
        .map_err(|e| crate::error::store_failure("expunge attempt counters", e))
}

/// Deletes every API key that can never authenticate again (revoked or
/// expired), in batches; how many.
pub async fn expunge_dead_api_keys<S: ApiKeyStore>(store: &S) -> crate::Result<u64> {
    in_batches(|n| store.delete_dead_api_keys(n))
        .await
        .map_err(|e| crate::error::store_failure("expunge API keys", e))
}
