//! The security event log (the `audit_log` add-on): a stable catalogue of
//! what happened to an account, handed to an [`AuditSink`] as each action
//! succeeds or fails.
//!
//! Every event has its kind ([`EventKind`], whose names never change), the
//! time, the subject when one is known, the session when there is one, the
//! client (its address as the add-on's [`IpMode`] says, its user agent) and
//! the outcome. An event is recorded after the action it describes has
//! been written (an action that failed to write records nothing, or its
//! failure where the catalogue has one: `sign_in_failed`, `locked_out`).
//!
//! The default sink writes each event as a `tracing` event (target
//! `auth_audit`, level `info`); [`Auth::with_audit_sink`] hands them to
//! yours (a queue, a SIEM, a table), which must not block. The flows
//! record through `Auth::audit` (in `auth.rs`, the core).
//!
//! [`Auth::with_audit_sink`]: crate::Auth::with_audit_sink

use std::fmt;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::error::StoreError;
use sha2::{Digest, Sha256};

use crate::config::Lifetime;

/// What happened. The names ([`EventKind::as_str`]) are stable: stored and
/// shipped events keep meaning the same thing across releases.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum EventKind {
    /// An account was registered.
    Registered,
    /// A sign-in succeeded (any strategy).
    SignedIn,
    /// A password sign-in failed (wrong password, unknown identity, or a
    /// locked identity).
    SignInFailed,
    /// A sign-in was refused by brute-force protection: the address is
    /// throttled.
    LockedOut,
    /// A refresh token was exchanged for a new pair.
    Refreshed,
    /// A used refresh token came back after its grace: its session ended.
    RefreshReuseDetected,
    /// A token was signed out.
    SignedOut,
    /// A session was ended from the device list.
    SessionEnded,
    /// Every sign-in of the account was ended.
    LoggedOutEverywhere,
    /// The password was changed with the current one.
    PasswordChanged,
    /// A password reset was asked for (the subject is not known yet).
    PasswordResetRequested,
    /// The password was reset with a reset token.
    PasswordReset,
    /// A magic link was asked for (the subject is not known yet).
    MagicLinkRequested,
    /// An address was confirmed.
    Confirmed,
    /// A change of a monitored field (the email) took effect.
    EmailChanged,
    /// An API key was created.
    ApiKeyCreated,
    /// An API key (or all of them) was revoked.
    ApiKeyRevoked,
    /// A membership of a tenant ended: the user's sessions there ended.
    MembershipEnded,
}

impl EventKind {
    /// Every kind, in catalogue order.
    pub const ALL: [EventKind; 18] = [
        Self::Registered,
        Self::SignedIn,
        Self::SignInFailed,
        Self::LockedOut,
        Self::Refreshed,
        Self::RefreshReuseDetected,
        Self::SignedOut,
        Self::SessionEnded,
        Self::LoggedOutEverywhere,
        Self::PasswordChanged,
        Self::PasswordResetRequested,
        Self::PasswordReset,
        Self::MagicLinkRequested,
        Self::Confirmed,
        Self::EmailChanged,
        Self::ApiKeyCreated,
        Self::ApiKeyRevoked,
        Self::MembershipEnded,
    ];

    /// The stable name (`signed_in`, `api_key_revoked`, ...).
    pub const fn as_str(&self) -> &'static str {
        match self {
            Self::Registered => "registered",
            Self::SignedIn => "signed_in",
            Self::SignInFailed => "sign_in_failed",
            Self::LockedOut => "locked_out",
            Self::Refreshed => "refreshed",
            Self::RefreshReuseDetected => "refresh_reuse_detected",
            Self::SignedOut => "signed_out",
            Self::SessionEnded => "session_ended",
            Self::LoggedOutEverywhere => "logged_out_everywhere",
            Self::PasswordChanged => "password_changed",
            Self::PasswordResetRequested => "password_reset_requested",
            Self::PasswordReset => "password_reset",
            Self::MagicLinkRequested => "magic_link_requested",
            Self::Confirmed => "confirmed",
            Self::EmailChanged => "email_changed",
            Self::ApiKeyCreated => "api_key_created",
            Self::ApiKeyRevoked => "api_key_revoked",
            Self::MembershipEnded => "membership_ended",
        }
    }

    /// The kind named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether the action succeeded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It did.
    Success,
    /// It was refused.
    Failure,
}

impl Outcome {
    /// `success` or `failure`.
    pub const fn as_str(&self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
        }
    }

    /// The outcome named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Success, Self::Failure]
            .into_iter()
            .find(|o| o.as_str() == name)
    }
}

/// What an event keeps of the client (a view of a `ClientInfo`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Client<'a> {
    pub(crate) ip: Option<IpAddr>,
    pub(crate) user_agent: Option<&'a str>,
}

/// Where an event happened: the session and the tenant, when known.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct At<'a> {
    pub(crate) session: Option<&'a str>,
    pub(crate) tenant: Option<&'a str>,
}

impl<'a> At<'a> {
    /// Nowhere in particular.
    pub(crate) const NONE: Self = Self {
        session: None,
        tenant: None,
    };

    /// The session and tenant a token names.
    pub(crate) fn of(claims: &'a crate::claims::Claims) -> Self {
        Self {
            session: claims.sid.as_deref(),
            tenant: claims.tenant.as_deref(),
        }
    }

    /// A session (its tenant unknown).
    pub(crate) fn session(id: &'a str) -> Self {
        Self {
            session: Some(id),
            tenant: None,
        }
    }

    /// A tenant.
    pub(crate) fn tenant(tenant: &'a str) -> Self {
        Self {
            session: None,
            tenant: Some(tenant),
        }
    }
}

/// The event of an action about to write: its write appends it when the
/// store keeps events, so the event and the action commit together.
#[derive(Debug)]
pub(crate) struct Pending {
    /// The event (`None` without the `audit_log` add-on).
    pub(crate) event: Option<AuditEvent>,
    /// Whether the store keeps events (`Auth::store_audit_events`).
    pub(crate) stored: bool,
}

impl Pending {
    /// What the action's write appends: the event when the store keeps
    /// events, else nothing.
    pub(crate) fn events(&self) -> &[AuditEvent] {
        match &self.event {
            Some(event) if self.stored => std::slice::from_ref(event),
            _ => &[],
        }
    }
}

/// One security event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEvent {
    /// What happened.
    pub kind: EventKind,
    /// When.
    pub at: DateTime<Utc>,
    /// Whose account (`user?id=…`), when known.
    pub subject: Option<String>,
    /// The session (its id), when there is one.
    pub session: Option<String>,
    /// The tenant, at a resource with tenancy, when known.
    pub tenant: Option<String>,
    /// The client's address, as the add-on's [`IpMode`] keeps it.
    pub ip: Option<String>,
    /// The client's user agent, as the session row keeps it.
    pub user_agent: Option<String>,
    /// Whether it succeeded.
    pub outcome: Outcome,
}

/// Where events go. `record` is called on the request path: queue, do not
/// block.
pub trait AuditSink: Send + Sync + 'static {
    /// Takes one event.
    fn record(&self, event: &AuditEvent);
}

/// The default sink: each event as a `tracing` event (target `auth_audit`,
/// level `info`, the fields by name).
#[derive(Clone, Copy, Debug, Default)]
pub struct TracingSink;

impl AuditSink for TracingSink {
    fn record(&self, e: &AuditEvent) {
        tracing::info!(
            target: "auth_audit",
            event = e.kind.as_str(),
            subject = e.subject.as_deref().unwrap_or(""),
            session = e.session.as_deref().unwrap_or(""),
            ip = e.ip.as_deref().unwrap_or(""),
            user_agent = e.user_agent.as_deref().unwrap_or(""),
            outcome = e.outcome.as_str(),
            "security event"
        );
    }
}

/// How much of a client's address an event keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IpMode {
    /// A SHA-256 of it (hex, 16 characters): events from one address can
    /// be told together, the address is not written. Pseudonymous, not
    /// anonymous: every IPv4 address can be hashed and compared.
    Hash,
    /// Its network: an IPv4 /24, an IPv6 /48.
    Truncate,
    /// The address.
    Full,
    /// Nothing.
    None,
}

impl IpMode {
    /// What an event keeps of `ip`.
    pub fn keep(self, ip: Option<IpAddr>) -> Option<String> {
        let ip = ip?;
        match self {
            Self::None => None,
            Self::Full => Some(ip.to_string()),
            Self::Hash => Some(
                Sha256::digest(ip.to_string().as_bytes())
                    .iter()
                    .take(8)
                    .map(|b| format!("{b:02x}"))
                    .collect(),
            ),
            Self::Truncate => Some(match ip {
                IpAddr::V4(v4) => {
                    let [a, b, c, _] = v4.octets();
                    format!("{a}.{b}.{c}.0/24")
                }
                IpAddr::V6(v6) => {
                    let s = v6.segments();
                    format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
                }
            }),
        }
    }
}

/// The settings of the `audit_log` add-on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuditConfig {
    /// How long stored events are kept (default 90 days).
    pub retention: Lifetime,
    /// How much of the client's address an event keeps (default: a hash).
    pub ip: IpMode,
}

impl AuditConfig {
    /// The defaults: 90 days, hashed addresses.
    pub const fn new() -> Self {
        Self {
            retention: Lifetime::from_secs(auth_dsl::defaults::AUDIT_RETENTION),
            ip: IpMode::Hash,
        }
    }
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self::new()
    }
}

/// The sink an `Auth` starts with.
pub(crate) fn default_sink() -> Arc<dyn AuditSink> {
    Arc::new(TracingSink)
}

/// How often queued events are written.
pub const EVENT_FLUSH: Duration = Duration::from_secs(1);

/// The most events queued for the store at once.
pub const MAX_QUEUED_EVENTS: usize = 10_000;

/// The most events [`Auth::list_events`] returns.
pub const MAX_LISTED_EVENTS: usize = 1_000;

/// How often events past their retention are deleted.
const RETENTION_SWEEP: Duration = Duration::from_secs(3_600);

pub(crate) type Write = dyn Fn(
        Vec<AuditEvent>,
        Option<DateTime<Utc>>,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = std::result::Result<(), StoreError>> + Send>,
    > + Send
    + Sync;

/// Events waiting for the store, and how to write them.
pub(crate) struct EventQueue {
    pub(crate) pending: Mutex<Vec<AuditEvent>>,
    pub(crate) dropped: AtomicU64,
    pub(crate) flusher: AtomicBool,
    pub(crate) retention: Duration,
    pub(crate) write: Box<Write>,
}

impl std::fmt::Debug for EventQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventQueue")
            .field("pending", &self.len())
            .field("dropped", &self.dropped.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl EventQueue {
    fn len(&self) -> usize {
        self.pending.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Queues an event (dropping the oldest past the bound) and starts the
    /// writer with the first one.
    pub(crate) fn push(self: &Arc<Self>, event: AuditEvent) {
        {
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            if pending.len() >= MAX_QUEUED_EVENTS {
                pending.remove(0);
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
            pending.push(event);
        }
        if !self.flusher.swap(true, Ordering::SeqCst) {
            match tokio::runtime::Handle::try_current() {
                Ok(rt) => {
                    rt.spawn(run(Arc::downgrade(self)));
                }
                // No runtime: the next push (or a flush) writes them.
                Err(_) => self.flusher.store(false, Ordering::SeqCst),
            }
        }
    }

    /// Writes what is queued (and, with `sweep`, deletes events past their
    /// retention). A failed write puts the events back.
    pub(crate) async fn flush(&self, sweep: bool) -> std::result::Result<(), StoreError> {
        let taken = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()));
        let before = sweep
            .then(|| chrono::Duration::from_std(self.retention).ok())
            .flatten()
            .and_then(|r| Utc::now().checked_sub_signed(r));
        if taken.is_empty() && before.is_none() {
            return Ok(());
        }
        if let Err(e) = (self.write)(taken.clone(), before).await {
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            let mut back = taken;
            back.append(&mut pending);
            let over = back.len().saturating_sub(MAX_QUEUED_EVENTS);
            back.drain(..over);
            self.dropped.fetch_add(over as u64, Ordering::Relaxed);
            *pending = back;
            return Err(e);
        }
        Ok(())
    }
}

async fn run(queue: Weak<EventQueue>) {
    let mut since_sweep = RETENTION_SWEEP;
    loop {
        tokio::time::sleep(EVENT_FLUSH).await;
        let Some(queue) = queue.upgrade() else {
            return;
        };
        since_sweep += EVENT_FLUSH;
        let sweep = since_sweep >= RETENTION_SWEEP;
        match queue.flush(sweep).await {
            Ok(()) if sweep => since_sweep = Duration::ZERO,
            Ok(()) => {}
            Err(e) => tracing::warn!(error = %e, "could not store security events; retrying"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_names_are_stable_and_unique() {
        let names: Vec<&str> = EventKind::ALL.iter().map(EventKind::as_str).collect();
        assert_eq!(
            names,
            [
                "registered",
                "signed_in",
                "sign_in_failed",
                "locked_out",
                "refreshed",
                "refresh_reuse_detected",
                "signed_out",
                "session_ended",
                "logged_out_everywhere",
                "password_changed",
                "password_reset_requested",
                "password_reset",
                "magic_link_requested",
                "confirmed",
                "email_changed",
                "api_key_created",
                "api_key_revoked",
                "membership_ended",
            ]
        );
        for kind in EventKind::ALL {
            assert_eq!(EventKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(EventKind::parse("nope"), None);
    }

    #[test]
    fn addresses_are_kept_as_the_mode_says() {
        let v4: IpAddr = "203.0.113.77".parse().unwrap();
        let v6: IpAddr = "2001:db8:1:2::9".parse().unwrap();
        assert_eq!(IpMode::Full.keep(Some(v4)).unwrap(), "203.0.113.77");
        assert_eq!(IpMode::Truncate.keep(Some(v4)).unwrap(), "203.0.113.0/24");
        assert_eq!(IpMode::Truncate.keep(Some(v6)).unwrap(), "2001:db8:1::/48");
        let hashed = IpMode::Hash.keep(Some(v4)).unwrap();
        assert_eq!(hashed.len(), 16);
        assert!(!hashed.contains("203"));
        assert_eq!(IpMode::Hash.keep(Some(v4)), Some(hashed), "stable");
        assert_eq!(IpMode::None.keep(Some(v4)), None);
        assert_eq!(IpMode::Full.keep(None), None);
    }
}
