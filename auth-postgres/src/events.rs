//! Security events in PostgreSQL: the table beside the token table
//! (`<token table>_events`), appended to in batches (one statement).

use std::sync::Arc;

use auth_core::{AuditEvent, AuditStore, StoreError};
use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

use auth_sql::events::{EVENT_COLUMNS, EventRow};
use auth_sql::{limit, sql};

use crate::store::{PgStore, db_err};

/// The event statements of one token table, built once.
#[derive(Debug)]
pub(crate) struct EventQueries {
    insert: Arc<str>,
    list: Arc<str>,
    delete_before: Arc<str>,
}

/// An `INSERT` of events into the event table `e` from the eight arrays
/// [`bind_events`] binds at `$first`…`$first + 7`: alone, a batch; as a CTE
/// of a write's own statement, the write's events in one round trip and
/// one transaction, inserted only when the CTE `when` (of that statement)
/// returned a row, if given.
pub(crate) fn insert_events(e: &str, first: usize, when: Option<&str>) -> String {
    let [at, kind, subject, session, ip, agent, outcome, tenant] =
        [0, 1, 2, 3, 4, 5, 6, 7].map(|i| first + i);
    let when = when.map_or_else(String::new, |w| {
        format!(" WHERE EXISTS (SELECT 1 FROM {w})")
    });
    format!(
        "INSERT INTO {e} ({EVENT_COLUMNS}) \
         SELECT * FROM unnest(${at}::timestamptz[], ${kind}::text[], ${subject}::text[], \
         ${session}::text[], ${ip}::text[], ${agent}::text[], ${outcome}::text[], \
         ${tenant}::text[]){when}"
    )
}

/// `statement` (a write) with events appended by the same statement, as a
/// data-modifying CTE whose eight arrays are the parameters from `first`
/// on: one round trip, and both commit or neither. For writes whose events
/// are kept whatever they do (the CTE runs unconditionally).
pub(crate) fn with_events(e: &str, first: usize, statement: &str) -> String {
    let ev = insert_events(e, first, None);
    match statement.strip_prefix("WITH ") {
        Some(rest) => format!("WITH ev AS ({ev}), {rest}"),
        None => format!("WITH ev AS ({ev}) {statement}"),
    }
}

/// `statement` (a single `UPDATE`, `INSERT` or `DELETE` without
/// `RETURNING`) with events appended by the same statement only when it
/// changed a row, parameters from `first` on; the statement returns how
/// many rows it changed (`count`).
pub(crate) fn with_events_if_any(e: &str, first: usize, statement: &str) -> String {
    format!(
        "WITH done AS ({statement} RETURNING 1), ev AS ({}) SELECT count(*) FROM done",
        insert_events(e, first, Some("done"))
    )
}

/// Binds `events` as the eight arrays of [`insert_events`].
pub(crate) fn bind_events<'q>(
    q: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    events: &[AuditEvent],
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    let column = |f: fn(&AuditEvent) -> Option<&str>| -> Vec<Option<String>> {
        events.iter().map(|e| f(e).map(str::to_owned)).collect()
    };
    let at: Vec<DateTime<Utc>> = events.iter().map(|e| e.at).collect();
    q.bind(at)
        .bind(column(|e| Some(e.kind.as_str())))
        .bind(column(|e| e.subject.as_deref()))
        .bind(column(|e| e.session.as_deref()))
        .bind(column(|e| e.ip.as_deref()))
        .bind(column(|e| e.user_agent.as_deref()))
        .bind(column(|e| Some(e.outcome.as_str())))
        .bind(column(|e| e.tenant.as_deref()))
}

impl EventQueries {
    /// The statements for the event table `e` (quoted).
    pub(crate) fn new(e: &str) -> Self {
        Self {
            insert: insert_events(e, 1, None).into(),
            list: format!(
                "SELECT {EVENT_COLUMNS} FROM {e} \
                 WHERE subject = $1 ORDER BY at DESC, id DESC LIMIT $2"
            )
            .into(),
            delete_before: format!(
                "DELETE FROM {e} WHERE id IN (SELECT id FROM {e} WHERE at < $1 ORDER BY at LIMIT $2)"
            )
            .into(),
        }
    }
}

fn event(row: &PgRow) -> Result<AuditEvent, sqlx::Error> {
    AuditEvent::try_from(EventRow {
        at: row.try_get("at")?,
        kind: row.try_get("kind")?,
        subject: row.try_get("subject")?,
        session: row.try_get("session")?,
        ip: row.try_get("ip")?,
        user_agent: row.try_get("user_agent")?,
        outcome: row.try_get("outcome")?,
        tenant: row.try_get("tenant")?,
    })
}

impl PgStore {
    /// Appends `events` on `conn` (one statement): a batch, or the events of
    /// a write in its transaction.
    pub(crate) async fn append_events(
        &self,
        conn: &mut PgConnection,
        events: &[AuditEvent],
    ) -> Result<(), sqlx::Error> {
        let q = &self.token_queries().events;
        bind_events(sqlx::query(sql(&q.insert)), events)
            .execute(conn)
            .await?;
        Ok(())
    }
}

impl AuditStore for PgStore {
    async fn insert_events(&self, events: &[AuditEvent]) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await.map_err(db_err("insert events"))?;
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
            .fetch_all(&self.pool)
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
            .bind(before)
            .bind(limit(limit_to))
            .execute(&self.pool)
            .await
            .map_err(db_err("delete events"))?;
        Ok(done.rows_affected())
    }
}
