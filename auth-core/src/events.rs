//! Stored security events (the `audit_log` add-on with
//! [`Auth::store_audit_events`]). The event of an action that writes goes
//! with its write (the store appends it in the same transaction: see
//! [`TokenStore`](crate::TokenStore)); the others are queued in memory as
//! their actions complete and written to the store's event table in
//! batches, off the request path (every [`EVENT_FLUSH`](crate::EVENT_FLUSH),
//! or at once by [`Auth::flush_audit_events`] and before
//! [`Auth::list_events`] reads); events older than the add-on's `retention`
//! are deleted by the same task (once an hour).
//!
//! The queue is bounded ([`MAX_QUEUED_EVENTS`](crate::MAX_QUEUED_EVENTS)): while the store is down,
//! the oldest queued events are dropped (and counted) rather than the
//! process growing without end. Events reach the application's sink (by
//! default `tracing`) either way.

use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::audit::{AuditEvent, EventQueue, MAX_LISTED_EVENTS, Write};
use crate::auth::Auth;
use crate::error::{Error, Result, store_failure};
use crate::store::AuditStore;
use crate::user::UserResource;

impl<U: UserResource, S: AuditStore + Clone + 'static> Auth<U, S> {
    /// Keeps the `audit_log` add-on's events in the store too (the table
    /// beside the token table): an action that writes commits its event in
    /// the same transaction, the others are written in batches off the
    /// request path; [`list_events`](Self::list_events) reads them. Without
    /// the add-on nothing is recorded.
    pub fn store_audit_events(mut self) -> Self {
        let retention = self
            .settings()
            .audit_log
            .map_or(Duration::ZERO, |l| l.retention.as_duration());
        let store = self.store().clone();
        let write: Box<Write> = Box::new(move |events, before| {
            let store = store.clone();
            Box::pin(async move {
                if !events.is_empty() {
                    store.insert_events(&events).await?;
                }
                if let Some(before) = before {
                    crate::expunger::in_batches(|n| store.delete_events_before(before, n)).await?;
                }
                Ok(())
            })
        });
        self.event_queue = Some(Arc::new(EventQueue {
            pending: Mutex::new(Vec::new()),
            dropped: AtomicU64::new(0),
            flusher: AtomicBool::new(false),
            retention,
            write,
        }));
        self
    }

    /// Writes the queued events now (the writer does it every
    /// [`EVENT_FLUSH`](crate::EVENT_FLUSH); call it at shutdown to keep the last ones).
    pub async fn flush_audit_events(&self) -> Result<()> {
        match &self.event_queue {
            Some(queue) => queue
                .flush(false)
                .await
                .map_err(|e| store_failure("store security events", e)),
            None => Ok(()),
        }
    }

    /// The user's newest `limit` security events (at most
    /// [`MAX_LISTED_EVENTS`](crate::MAX_LISTED_EVENTS)), newest first, after writing what is queued.
    /// [`Error::NotConfigured`] unless the add-on is on and
    /// [`store_audit_events`](Self::store_audit_events) was called.
    pub async fn list_events(&self, user: &U, limit: usize) -> Result<Vec<AuditEvent>> {
        if self.settings().audit_log.is_none() || self.event_queue.is_none() {
            return Err(Error::NotConfigured(
                "security events are not stored: add `audit_log` and call `store_audit_events`",
            ));
        }
        self.flush_audit_events().await?;
        self.store()
            .list_events(&user.subject(), limit.min(MAX_LISTED_EVENTS))
            .await
            .map_err(|e| store_failure("list security events", e))
    }
}
