//! Security events in SQLite: the table beside the token table
//! (`<token table>_events`), appended to in batches (one statement over a
//! JSON array).

use std::sync::Arc;

use auth_core::{AuditEvent, AuditStore, StoreError};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};

use auth_sql::events::{EVENT_COLUMNS, EventRow};
use auth_sql::{limit, sql};

use crate::store::{SqliteStore, db_err, from_micros, micros};

/// The event statements of one token table, built once.
#[derive(Debug)]
pub(crate) struct EventQueries {
    insert: Arc<str>,
    list: Arc<str>,
    delete_before: Arc<str>,
}

impl EventQueries {
    /// The statements for the event table `e` (quoted).
    pub(crate) fn new(e: &str) -> Self {
        let field = |i: usize| format!("json_extract(value, '$[{i}]')");
        Self {
            insert: format!(
                "INSERT INTO {e} ({EVENT_COLUMNS}) \
                 SELECT {} FROM json_each(?1)",
                (0..8).map(field).collect::<Vec<_>>().join(", ")
            )
            .into(),
            list: format!(
                "SELECT {EVENT_COLUMNS} FROM {e} \
                 WHERE subject = ?1 ORDER BY at DESC, id DESC LIMIT ?2"
            )
            .into(),
            delete_before: format!(
                "DELETE FROM {e} WHERE id IN (SELECT id FROM {e} WHERE at < ?1 ORDER BY at LIMIT ?2)"
            )
            .into(),
        }
    }
}

fn event(row: &SqliteRow) -> Result<AuditEvent, sqlx::Error> {
    AuditEvent::try_from(EventRow {
        at: from_micros(row.try_get("at")?),
        kind: row.try_get("kind")?,
        subject: row.try_get("subject")?,
        session: row.try_get("session")?,
        ip: row.try_get("ip")?,
        user_agent: row.try_get("user_agent")?,
        outcome: row.try_get("outcome")?,
        tenant: row.try_get("tenant")?,
    })
}

impl SqliteStore {
    /// Appends `events` on `conn` (one statement): a batch, or the events
    /// of a write in its transaction.
    pub(crate) async fn append_events(
        &self,
        conn: &mut SqliteConnection,
        events: &[AuditEvent],
    ) -> Result<(), sqlx::Error> {
        if events.is_empty() {
            return Ok(());
        }
        let q = &self.token_queries().events;
        let rows: Vec<Value> = events
            .iter()
            .map(|e| {
                json!([
                    micros(e.at),
                    e.kind.as_str(),
                    e.subject,
                    e.session,
                    e.ip,
                    e.user_agent,
                    e.outcome.as_str(),
                    e.tenant
                ])
            })
            .collect();
        sqlx::query(sql(&q.insert))
            .bind(Value::Array(rows).to_string())
            .execute(conn)
            .await?;
        Ok(())
    }
}

impl AuditStore for SqliteStore {
    async fn insert_events(&self, events: &[AuditEvent]) -> Result<(), StoreError> {
        let mut conn = self
            .writer
            .acquire()
            .await
            .map_err(db_err("insert events"))?;
        self.append_events(&mut conn, events)
            .await
            .map_err(db_err("insert events"))
    }

    async fn list_events(
        &self,
        subject: &str,
        limit_to: usize,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        let q = &self.token_queries().events;
        let rows = sqlx::query(sql(&q.list))
            .bind(subject)
            .bind(limit(limit_to))
            .fetch_all(&self.reader)
            .await
            .map_err(db_err("list events"))?;
        rows.iter()
            .map(event)
            .collect::<Result<_, _>>()
            .map_err(db_err("decode events"))
    }

    async fn delete_events_before(
        &self,
        before: DateTime<Utc>,
        limit_to: usize,
    ) -> Result<u64, StoreError> {
        let q = &self.token_queries().events;
        let done = sqlx::query(sql(&q.delete_before))
            .bind(micros(before))
            .bind(limit(limit_to))
            .execute(&self.writer)
            .await
            .map_err(db_err("delete events"))?;
        Ok(done.rows_affected())
    }
}
