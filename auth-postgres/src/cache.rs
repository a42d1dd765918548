//! Cross-node invalidation for auth-core's `AuthCache` (feature `cache`):
//! triggers publish, in the writing transaction, the subject of every token
//! row and API-key row written and the key of every user row written (`NOTIFY` on a channel
//! per token table); a task per node `LISTEN`s and evicts, reconnecting with
//! backoff, and tells the cache when it may have missed something.

use std::time::{Duration, Instant};

use auth_core::{AuthCache, Error, StoreError, UserResource};
use sqlx::postgres::{PgListener, PgPool};
use sqlx::{AssertSqlSafe, Connection};

use auth_sql::quote_column;

use crate::store::{PgStore, db_err};

/// How often the listener proves its connection alive: it sends itself a
/// notification every interval, and a connection that delivers none for
/// three intervals is treated as lost (a half-open connection reports no
/// error).
pub const HEARTBEAT: Duration = Duration::from_millis(500);

const RECONNECT_MIN: Duration = Duration::from_millis(50);
const RECONNECT_MAX: Duration = Duration::from_secs(5);
const PING: &str = "ping";

/// The lock `listen_for_invalidations` takes while installing triggers.
const TRIGGER_LOCK: i64 = 0x6175_7468_5f63_6163; // "auth_cac"

/// The channel of a token table's invalidations.
pub fn invalidation_channel(token_table: &str) -> String {
    format!("auth_cache_{}", token_table.replace('.', "_"))
}

/// The running listener; [`shutdown`](Self::shutdown) stops it (dropping it
/// lets it run on).
#[derive(Debug)]
pub struct InvalidationListener {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl InvalidationListener {
    /// Stops listening (the cache is left bypassed) and waits for the task.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

impl PgStore {
    /// Installs (idempotently) the triggers that publish every write to
    /// the bound token table, its API-key table and `U`'s user table (all
    /// must exist: call it after
    /// `migrate` and your own migrations), and spawns the task that
    /// listens on this node and evicts from `cache`. Until the task is
    /// listening, and whenever its connection is lost, `cache` serves
    /// nothing.
    pub async fn listen_for_invalidations<U: UserResource>(
        &self,
        cache: AuthCache<U>,
    ) -> Result<InvalidationListener, Error> {
        self.install_invalidation_triggers::<U>().await?;
        let channel = invalidation_channel(self.bound_table());
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(listen(self.pool.clone(), channel, cache, stopped));
        Ok(InvalidationListener { stop, task })
    }

    async fn install_invalidation_triggers<U: UserResource>(&self) -> Result<(), Error> {
        let tokens = self.token_queries();
        let users = self.user_table(U::SUBJECT_NAME).map_err(Error::Store)?;
        let channel = invalidation_channel(self.bound_table());
        let (t, k) = (&tokens.table, &tokens.keys.table);
        let arg = |s: &str| format!("'{}'", s.replace('\'', "''"));
        let (ch, name, pk) = (
            arg(&channel),
            arg(U::SUBJECT_NAME),
            arg(U::PRIMARY_KEY_FIELD),
        );
        let trigger = |table: &str,
                       name: &str,
                       event: &str,
                       rows: &str,
                       function: &str,
                       args: &str| {
            format!(
                "DROP TRIGGER IF EXISTS {name} ON {table}; \
                 CREATE TRIGGER {name} AFTER {event} ON {table} REFERENCING {rows} TABLE AS changed \
                 FOR EACH STATEMENT EXECUTE FUNCTION {function}({args});"
            )
        };
        let sql = [
            // Token rows: the subject of every row inserted or updated.
            "CREATE OR REPLACE FUNCTION auth_postgres_notify_tokens() RETURNS trigger \
             LANGUAGE plpgsql AS $$ BEGIN \
             PERFORM pg_notify(TG_ARGV[0], 's:' || subject) FROM (SELECT DISTINCT subject FROM changed) c; \
             RETURN NULL; END $$;"
                .to_owned(),
            // User rows: the primary key (as text) of every row written.
            "CREATE OR REPLACE FUNCTION auth_postgres_notify_users() RETURNS trigger \
             LANGUAGE plpgsql AS $$ BEGIN \
             PERFORM pg_notify(TG_ARGV[0], 'k:' || TG_ARGV[1] || ':' || k) \
             FROM (SELECT DISTINCT to_jsonb(c) ->> TG_ARGV[2] AS k FROM changed c) x WHERE k IS NOT NULL; \
             RETURN NULL; END $$;"
                .to_owned(),
            trigger(t, "auth_cache_insert", "INSERT", "NEW", "auth_postgres_notify_tokens", &ch),
            trigger(t, "auth_cache_update", "UPDATE", "NEW", "auth_postgres_notify_tokens", &ch),
            // API-key rows (created, revoked, used): their subject too.
            trigger(k, "auth_cache_insert", "INSERT", "NEW", "auth_postgres_notify_tokens", &ch),
            trigger(k, "auth_cache_update", "UPDATE", "NEW", "auth_postgres_notify_tokens", &ch),
            trigger(&users, &quote_column(&format!("auth_cache_insert_{channel}")), "INSERT", "NEW", "auth_postgres_notify_users", &format!("{ch}, {name}, {pk}")),
            trigger(&users, &quote_column(&format!("auth_cache_update_{channel}")), "UPDATE", "NEW", "auth_postgres_notify_users", &format!("{ch}, {name}, {pk}")),
            trigger(&users, &quote_column(&format!("auth_cache_delete_{channel}")), "DELETE", "OLD", "auth_postgres_notify_users", &format!("{ch}, {name}, {pk}")),
        ]
        .join("\n");
        let err = |e: sqlx::Error| Error::Store(db_err("install cache triggers")(e));
        let mut conn = self.pool.acquire().await.map_err(err)?;
        let mut tx = conn.begin().await.map_err(err)?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(TRIGGER_LOCK)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        sqlx::raw_sql(AssertSqlSafe(sql))
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        tx.commit().await.map_err(err)
    }
}

/// What a notification asks of the cache.
fn apply<U: UserResource>(cache: &AuthCache<U>, payload: &str) {
    if let Some(subject) = payload.strip_prefix("s:") {
        cache.invalidate_subject(subject);
    } else if let Some(rest) = payload.strip_prefix("k:") {
        match rest.split_once(':') {
            Some((name, key)) if name == U::SUBJECT_NAME => cache.invalidate_key(key),
            Some(_) => {}
            None => cache.flush(),
        }
    } else if payload != PING {
        cache.flush();
    }
}

async fn connect(pool: &PgPool, channel: &str) -> Result<PgListener, StoreError> {
    let mut listener = PgListener::connect_with(pool)
        .await
        .map_err(db_err("connect the cache listener"))?;
    listener.eager_reconnect(false);
    listener
        .listen(channel)
        .await
        .map_err(db_err("LISTEN for cache invalidations"))?;
    Ok(listener)
}

async fn ping(pool: &PgPool, channel: &str) {
    let sent = sqlx::query("SELECT pg_notify($1, $2)")
        .bind(channel)
        .bind(PING)
        .execute(pool);
    let _ = tokio::time::timeout(HEARTBEAT, sent).await;
}

async fn listen<U: UserResource>(
    pool: PgPool,
    channel: String,
    cache: AuthCache<U>,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    let mut backoff = RECONNECT_MIN;
    loop {
        if *stopped.borrow() {
            cache.not_listening();
            return;
        }
        let mut listener = match connect(&pool, &channel).await {
            Ok(l) => l,
            Err(e) => {
                cache.not_listening();
                tracing::warn!(error = %e, retry_in = ?backoff, "auth cache: cannot listen");
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    _ = stopped.changed() => {}
                }
                backoff = (backoff * 2).min(RECONNECT_MAX);
                continue;
            }
        };
        backoff = RECONNECT_MIN;
        // Listening from here on: whatever was kept before is flushed.
        cache.listening();
        let mut heartbeat = tokio::time::interval(HEARTBEAT);
        let mut heard = Instant::now();
        let lost = loop {
            tokio::select! {
                received = listener.try_recv() => match received {
                    Ok(Some(n)) => {
                        heard = Instant::now();
                        apply(&cache, n.payload());
                    }
                    Ok(None) => break "connection lost".to_owned(),
                    Err(e) => break e.to_string(),
                },
                _ = heartbeat.tick() => {
                    if heard.elapsed() > HEARTBEAT * 3 {
                        break "no heartbeat".to_owned();
                    }
                    let (pool, channel) = (pool.clone(), channel.clone());
                    tokio::spawn(async move { ping(&pool, &channel).await });
                }
                _ = stopped.changed() => {
                    cache.not_listening();
                    return;
                }
            }
        };
        cache.not_listening();
        tracing::warn!(reason = %lost, "auth cache: listener lost its connection; bypassing until it is back");
        tokio::select! {
            () = tokio::time::sleep(RECONNECT_MIN) => {}
            _ = stopped.changed() => {}
        }
    }
}
