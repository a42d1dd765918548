//! Failed-attempt counters in SQLite: the table beside the token table
//! (`<token table>_attempts`); the failures of one attempt counted in one
//! `BEGIN IMMEDIATE` transaction (an upsert per counter), at this process's
//! clock.

use std::sync::Arc;
use std::time::Duration;

use auth_core::{AttemptStore, AuditEvent, Failure, StoreError};
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::Row;

use auth_sql::{limit, sql};

use crate::store::{SqliteStore, db_err, duration_micros, from_micros, micros};

/// The attempt statements of one token table, built once.
#[derive(Debug)]
pub(crate) struct AttemptQueries {
    locked: Arc<str>,
    /// The counter table (quoted), for statements that read it beside
    /// another (a sign-in's lookup).
    pub(crate) table: String,
    record: Arc<str>,
    clear: Arc<str>,
    delete_expired: Arc<str>,
}

impl AttemptQueries {
    /// The statements for the counter table `a` (quoted).
    pub(crate) fn new(a: &str) -> Self {
        // ?1 key, ?2 max failures, ?3 now, ?4 window, ?5 lockout (µs). The
        // SET expressions read the row as it was.
        let restart = "a.window_ends <= ?3";
        let count = format!("CASE WHEN {restart} THEN 1 ELSE a.failures + 1 END");
        let window =
            format!("CASE WHEN {restart} THEN excluded.window_ends ELSE a.window_ends END");
        let locked = format!(
            "CASE WHEN {count} >= excluded.max_failures THEN ?3 + ?5 ELSE a.locked_until END"
        );
        Self {
            table: a.to_owned(),
            locked: format!(
                "SELECT key, locked_until FROM {a} WHERE key IN (SELECT value FROM json_each(?1)) \
                 AND locked_until > ?2"
            )
            .into(),
            record: format!(
                "INSERT INTO {a} AS a (key, failures, max_failures, window_ends, locked_until, expires_at) \
                 VALUES (?1, 1, ?2, ?3 + ?4, CASE WHEN ?2 <= 1 THEN ?3 + ?5 END, \
                 ?3 + max(?4, CASE WHEN ?2 <= 1 THEN ?5 ELSE 0 END)) \
                 ON CONFLICT (key) DO UPDATE SET failures = {count}, \
                 max_failures = excluded.max_failures, window_ends = {window}, \
                 locked_until = {locked}, expires_at = max({window}, coalesce({locked}, 0))"
            )
            .into(),
            clear: format!("DELETE FROM {a} WHERE key IN (SELECT value FROM json_each(?1))").into(),
            delete_expired: format!(
                "DELETE FROM {a} WHERE key IN (SELECT key FROM {a} WHERE expires_at <= ?1 \
                 ORDER BY expires_at LIMIT ?2)"
            )
            .into(),
        }
    }
}

pub(crate) fn keys_json(keys: &[String]) -> String {
    Value::from(keys.to_vec()).to_string()
}

impl AttemptStore for SqliteStore {
    async fn locked_attempts(
        &self,
        keys: &[String],
    ) -> Result<Vec<(String, DateTime<Utc>)>, StoreError> {
        let q = &self.token_queries().attempts;
        let rows = sqlx::query(sql(&q.locked))
            .bind(keys_json(keys))
            .bind(micros(Utc::now()))
            .fetch_all(&self.reader)
            .await
            .map_err(db_err("read attempts"))?;
        rows.iter()
            .map(|r| Ok((r.try_get("key")?, from_micros(r.try_get("locked_until")?))))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(db_err("decode attempts"))
    }

    async fn record_failures(
        &self,
        failures: &[Failure<'_>],
        window: Duration,
        lockout: Duration,
        events: &[AuditEvent],
    ) -> Result<(), StoreError> {
        let q = &self.token_queries().attempts;
        let record = async |tx: &mut sqlx::SqliteConnection, now| {
            for f in failures {
                sqlx::query(sql(&q.record))
                    .bind(f.key)
                    .bind(i64::from(f.max_failures))
                    .bind(micros(now))
                    .bind(duration_micros(window))
                    .bind(duration_micros(lockout))
                    .execute(&mut *tx)
                    .await?;
            }
            self.append_events(tx, events).await
        };
        self.write(record, |()| true)
            .await
            .map_err(db_err("record failed attempts"))
    }

    async fn clear_attempts(&self, keys: &[String]) -> Result<(), StoreError> {
        let q = &self.token_queries().attempts;
        sqlx::query(sql(&q.clear))
            .bind(keys_json(keys))
            .execute(&self.writer)
            .await
            .map_err(db_err("clear attempts"))?;
        Ok(())
    }

    async fn delete_expired_attempts(&self, limit_to: usize) -> Result<u64, StoreError> {
        let q = &self.token_queries().attempts;
        let done = sqlx::query(sql(&q.delete_expired))
            .bind(micros(Utc::now()))
            .bind(limit(limit_to))
            .execute(&self.writer)
            .await
            .map_err(db_err("delete expired attempts"))?;
        Ok(done.rows_affected())
    }
}
