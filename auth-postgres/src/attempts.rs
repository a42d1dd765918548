//! Failed-attempt counters in PostgreSQL: the table beside the token table
//! (`<token table>_attempts`); the failures of one attempt counted in one
//! statement (an upsert of every counter), at the database's clock.

use std::sync::Arc;
use std::time::Duration;

use auth_core::{AttemptStore, AuditEvent, Failure, StoreError};
use chrono::{DateTime, Utc};
use sqlx::Row;

use auth_sql::{limit, sql};

use crate::store::{PgStore, db_err};

/// The attempt statements of one token table, built once.
#[derive(Debug)]
pub(crate) struct AttemptQueries {
    locked: Arc<str>,
    /// The counter table (quoted), for statements that read it beside
    /// another (a sign-in's lookup).
    pub(crate) table: String,
    record: Arc<str>,
    /// `record` with the failure's events at $5-$12, in the same statement.
    record_audited: Arc<str>,
    clear: Arc<str>,
    delete_expired: Arc<str>,
}

impl AttemptQueries {
    /// The statements for the counter table `a` and the event table `e`
    /// (quoted).
    pub(crate) fn new(a: &str, e: &str) -> Self {
        // $1 keys, $2 their max failures, $3 window, $4 lockout (seconds).
        // The SET expressions read the row as it was.
        let restart = "a.window_ends <= now()";
        let count = format!("CASE WHEN {restart} THEN 1 ELSE a.failures + 1 END");
        let window =
            format!("CASE WHEN {restart} THEN EXCLUDED.window_ends ELSE a.window_ends END");
        let lock = "now() + make_interval(secs => $4)";
        let locked = format!(
            "CASE WHEN {count} >= EXCLUDED.max_failures THEN {lock} ELSE a.locked_until END"
        );
        let record = format!(
            "INSERT INTO {a} AS a (key, failures, max_failures, window_ends, locked_until, expires_at) \
             SELECT f.key, 1, f.max, now() + make_interval(secs => $3), \
             CASE WHEN f.max <= 1 THEN {lock} END, \
             greatest(now() + make_interval(secs => $3), CASE WHEN f.max <= 1 THEN {lock} END) \
             FROM unnest($1::text[], $2::int[]) AS f(key, max) \
             ON CONFLICT (key) DO UPDATE SET failures = {count}, \
             max_failures = EXCLUDED.max_failures, window_ends = {window}, \
             locked_until = {locked}, expires_at = greatest({window}, {locked})"
        );
        Self {
            table: a.to_owned(),
            record_audited: format!(
                "WITH ev AS ({}) {record}",
                crate::events::insert_events(e, 5, None)
            )
            .into(),
            record: record.into(),
            locked: format!(
                "SELECT key, locked_until FROM {a} WHERE key = ANY($1) AND locked_until > now()"
            )
            .into(),
            clear: format!("DELETE FROM {a} WHERE key = ANY($1)").into(),
            delete_expired: format!(
                "DELETE FROM {a} WHERE key IN (SELECT key FROM {a} WHERE expires_at <= now() \
                 ORDER BY expires_at LIMIT $1)"
            )
            .into(),
        }
    }
}

impl AttemptStore for PgStore {
    async fn locked_attempts(
        &self,
        keys: &[String],
    ) -> Result<Vec<(String, DateTime<Utc>)>, StoreError> {
        let q = &self.token_queries().attempts;
        let rows = sqlx::query(sql(&q.locked))
            .bind(keys)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err("read attempts"))?;
        rows.iter()
            .map(|r| Ok((r.try_get("key")?, r.try_get("locked_until")?)))
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
        let keys: Vec<&str> = failures.iter().map(|f| f.key).collect();
        let maxes: Vec<i32> = failures
            .iter()
            .map(|f| i32::try_from(f.max_failures).unwrap_or(i32::MAX))
            .collect();
        // With events, they are a CTE of the upsert: one round trip.
        let statement = if events.is_empty() {
            &q.record
        } else {
            &q.record_audited
        };
        let query = sqlx::query(sql(statement))
            .bind(keys)
            .bind(maxes)
            .bind(window.as_secs_f64())
            .bind(lockout.as_secs_f64());
        let query = match events {
            [] => query,
            events => crate::events::bind_events(query, events),
        };
        query
            .execute(&self.pool)
            .await
            .map_err(db_err("record failed attempts"))?;
        Ok(())
    }

    async fn clear_attempts(&self, keys: &[String]) -> Result<(), StoreError> {
        let q = &self.token_queries().attempts;
        sqlx::query(sql(&q.clear))
            .bind(keys)
            .execute(&self.pool)
            .await
            .map_err(db_err("clear attempts"))?;
        Ok(())
    }

    async fn delete_expired_attempts(&self, limit_to: usize) -> Result<u64, StoreError> {
        let q = &self.token_queries().attempts;
        let done = sqlx::query(sql(&q.delete_expired))
            .bind(limit(limit_to))
            .execute(&self.pool)
            .await
            .map_err(db_err("delete expired attempts"))?;
        Ok(done.rows_affected())
    }
}
