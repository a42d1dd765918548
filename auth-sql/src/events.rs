//! Security events as both SQL stores read them back: the columns, and a
//! row's text fields made an `AuditEvent` (an unknown kind or outcome, from
//! a newer release, is a decode error, never a guess).

use auth_core::{AuditEvent, EventKind, Outcome};
use chrono::{DateTime, Utc};

/// The event table's columns, in the order every store selects them.
pub const EVENT_COLUMNS: &str = "at, kind, subject, session, ip, user_agent, outcome, tenant";

/// A stored event's columns (each store decodes `at` its own way).
#[derive(Debug)]
pub struct EventRow {
    /// When.
    pub at: DateTime<Utc>,
    /// `EventKind::as_str`.
    pub kind: String,
    /// Whose.
    pub subject: Option<String>,
    /// The session.
    pub session: Option<String>,
    /// The address as kept.
    pub ip: Option<String>,
    /// The user agent.
    pub user_agent: Option<String>,
    /// `Outcome::as_str`.
    pub outcome: String,
    /// The tenant.
    pub tenant: Option<String>,
}

impl TryFrom<EventRow> for AuditEvent {
    type Error = sqlx::Error;

    fn try_from(row: EventRow) -> Result<Self, sqlx::Error> {
        let bad = |what: &str| sqlx::Error::Decode(format!("unknown {what}").into());
        Ok(AuditEvent {
            kind: EventKind::parse(&row.kind).ok_or_else(|| bad("event kind"))?,
            at: row.at,
            subject: row.subject,
            session: row.session,
            tenant: row.tenant,
            ip: row.ip,
            user_agent: row.user_agent,
            outcome: Outcome::parse(&row.outcome).ok_or_else(|| bad("outcome"))?,
        })
    }
}
