//! The storage traits: token rows and user rows. Stores only store; the
//! semantics (what a revocation is, when a row counts) live in auth-core.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::RwLock;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::api_key::{ApiKeyRow, NewApiKey};
use crate::audit::AuditEvent;
use crate::config::{Purpose, PurposeFilter};
use crate::error::StoreError;
use crate::user::{PasswordUser, UserResource};

/// One row of a token resource: facts about a token, never the token itself.
#[derive(Clone, Debug, PartialEq)]
pub struct TokenRow {
    /// The token's `jti` (primary key).
    pub jti: String,
    /// The token's `sub`.
    pub subject: String,
    /// When the row may be expunged (the token's own `exp`, for a revocation).
    pub expires_at: DateTime<Utc>,
    /// `user`, `sign_in`, `revocation`, or an add-on's name.
    pub purpose: String,
    /// Extra claims of a stored token, or pending changes of a confirmation.
    pub extra_data: Option<Value>,
    /// When the row was first written.
    pub created_at: DateTime<Utc>,
    /// When the row was last written.
    pub updated_at: DateTime<Utc>,
    /// The tenant the token is bound to (a resource with tenancy).
    pub tenant: Option<String>,
}

impl TokenRow {
    /// Whether this is a session row of `subject` still live at `now`.
    pub fn is_live_session(&self, subject: &str, now: DateTime<Utc>) -> bool {
        live_session(&self.purpose, &self.subject, self.expires_at, subject, now)
    }
}

/// What verification reads of a token's session row: whose it is, whether
/// it is a live session, and when it began. Not its `extra_data` (the
/// device: the device list reads it), so authenticating reads no more of
/// the session than its verdict needs.
#[derive(Clone, Debug, PartialEq)]
pub struct SessionFacts {
    /// The session id (its row's `jti`).
    pub jti: String,
    /// The subject it belongs to.
    pub subject: String,
    /// `session`, or `revocation` once ended.
    pub purpose: String,
    /// When it ends.
    pub expires_at: DateTime<Utc>,
    /// When it began (the sign-in).
    pub created_at: DateTime<Utc>,
    /// The tenant the session is bound to (a resource with tenancy).
    pub tenant: Option<String>,
}

impl SessionFacts {
    /// Whether this is a session of `subject` still live at `now`.
    pub fn is_live_session(&self, subject: &str, now: DateTime<Utc>) -> bool {
        live_session(&self.purpose, &self.subject, self.expires_at, subject, now)
    }
}

impl From<TokenRow> for SessionFacts {
    fn from(row: TokenRow) -> Self {
        Self {
            jti: row.jti,
            subject: row.subject,
            purpose: row.purpose,
            expires_at: row.expires_at,
            created_at: row.created_at,
            tenant: row.tenant,
        }
    }
}

/// What verification reads of a token's own row: whose it is, what it
/// is now (its purpose, or `revocation`), until when, its stored extra
/// claims, and when it was made (a cookie session reads its session row as
/// this). Not its id (the lookup's key) or `updated_at`.
#[derive(Clone, Debug, PartialEq)]
pub struct TokenRowFacts {
    /// The subject it belongs to.
    pub subject: String,
    /// Its purpose, or `revocation` once revoked.
    pub purpose: String,
    /// When it ends.
    pub expires_at: DateTime<Utc>,
    /// Its stored extra claims (allow-list mode restores them).
    pub extra_data: Option<Value>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// The tenant the token is bound to (a resource with tenancy).
    pub tenant: Option<String>,
}

impl TokenRowFacts {
    /// Whether this is a session row of `subject` still live at `now`.
    pub fn is_live_session(&self, subject: &str, now: DateTime<Utc>) -> bool {
        live_session(&self.purpose, &self.subject, self.expires_at, subject, now)
    }
}

impl From<TokenRow> for TokenRowFacts {
    fn from(row: TokenRow) -> Self {
        Self {
            subject: row.subject,
            purpose: row.purpose,
            expires_at: row.expires_at,
            extra_data: row.extra_data,
            created_at: row.created_at,
            tenant: row.tenant,
        }
    }
}

fn live_session(
    purpose: &str,
    owner: &str,
    expires_at: DateTime<Utc>,
    subject: &str,
    now: DateTime<Utc>,
) -> bool {
    purpose == Purpose::SESSION.as_str() && owner == subject && expires_at > now
}

/// A row to write; the store sets the timestamps.
#[derive(Clone, Debug, PartialEq)]
pub struct NewTokenRow {
    /// The token's `jti`.
    pub jti: String,
    /// The token's `sub`.
    pub subject: String,
    /// When the row may be expunged.
    pub expires_at: DateTime<Utc>,
    /// The row's purpose.
    pub purpose: String,
    /// Optional JSON payload.
    pub extra_data: Option<Value>,
    /// The tenant the token is bound to (a resource with tenancy).
    pub tenant: Option<String>,
}

/// Storage of the rows of one token table, bound when the store is built
/// (`with_token_table`; the default is `tokens`, the token resource's
/// default). An application with two token resources builds two stores.
///
/// Every method is one atomic operation: the conditional writes below must
/// not be split into a read and a write (for SQL: one statement), because
/// race-safe revocation and single-use sign-in tokens rest on them.
///
/// **Time.** Two clocks, each for a reason:
/// - a *read* that filters by time takes `now` from the caller
///   (`get_token`, `list_sessions`, `live_tokens`), so the runtime's
///   verdicts run on one clock;
/// - a *write* decides by the store's clock, read in the same statement
///   as the write (a SQL store's `now()`; the memory store's at the lock):
///   the timestamps it sets (`created_at`, `updated_at`, a session's
///   `last_seen_at`), whether a row is still live when it is spent
///   (`redeem`, `rotate_refresh`, the reuse grace measured from
///   `updated_at`), and what has expired (`read_expired`,
///   `delete_expired`). A time passed in would be stale by the time the
///   statement runs, and a grace measured between two clocks would be
///   wrong by their skew.
///
/// The runtime's checks allow for the difference: it judges rows with the
/// leeway, and a write's own clock has the last word.
///
/// **Events.** A write that takes `events` (security events of the
/// `audit_log` add-on) appends them to the event table
/// ([`AuditStore`]) in its own transaction, when the write takes effect
/// as its documentation says, and not otherwise: an action that rolls back
/// leaves no event, and an action that committed cannot lose its event to
/// a crash. The slice is empty unless the application stores events
/// (`Auth::store_audit_events`, which needs an [`AuditStore`]), so a store
/// without an event table never gets one.
pub trait TokenStore: Send + Sync {
    /// The token table this store is bound to, as the token resource names
    /// it (`tokens`, `auth.tokens`). The runtime refuses to start when it is
    /// not the resource's table.
    fn token_table(&self) -> &str;

    /// Inserts `row`, or overwrites the row with the same `jti` unless that
    /// row is a revocation. Returns `false` when a revocation row blocked it.
    fn upsert_token(
        &self,
        row: &NewTokenRow,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Inserts a row for a `jti` just minted (so it cannot exist yet): a plain
    /// insert, cheaper than the upsert. A conflict is an error.
    fn insert_token(
        &self,
        row: &NewTokenRow,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The row for `jti` whose `expires_at` is after `now`, and whose purpose
    /// is `purpose` when one is given.
    fn get_token(
        &self,
        jti: &str,
        purpose: Option<&str>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<TokenRow>, StoreError>> + Send;

    /// Makes `jti` a revocation row (purpose [`Purpose::REVOCATION`](crate::Purpose::REVOCATION), `subject` and
    /// `expires_at` from `row`): inserts it, or flips an existing row of
    /// another purpose. Returns `false`, writing nothing, when it already is
    /// a revocation row. Of concurrent calls for one `jti`, exactly one
    /// returns `true`. `events` are appended either way (a sign-out is done
    /// whether or not the row already was a revocation).
    fn insert_revocation(
        &self,
        row: &NewTokenRow,
        events: &[AuditEvent],
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Whether a revocation row exists for `jti` (expired or not).
    fn is_revoked(&self, jti: &str) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Flips every row of `revoke.subject` whose purpose passes
    /// `revoke.filter` (and is not already a revocation) to a revocation row
    /// whose `expires_at` moves `revoke.keep_for` later (so it outlives the
    /// token's leeway and clock skew); with `revoke.api_keys`, revokes the
    /// subject's API keys in the same write (a store without
    /// [`ApiKeyStore`] answers an error then). With `revoke.tenant`, only
    /// the rows bound to that tenant (API keys are not bound to one).
    /// Returns how many token rows; `events` are appended however many.
    fn revoke_all_for_subject(
        &self,
        revoke: &RevokeAll<'_>,
        events: &[AuditEvent],
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Flips every row bound to `tenant` (of every subject, not already a
    /// revocation) to a revocation whose `expires_at` moves `keep_for`
    /// later: a suspended tenant's sessions and tokens end, in one write.
    /// Returns how many rows.
    fn revoke_tenant(
        &self,
        tenant: &str,
        keep_for: Duration,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Rows expired by the store's clock, at most `limit`.
    fn read_expired(
        &self,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<TokenRow>, StoreError>> + Send;

    /// Deletes, in `expires_at` order, at most `limit` rows expired by the
    /// store's clock (a SQL store's: the database's `now()`, so an
    /// application node whose clock runs fast never deletes a live
    /// revocation) whose `expires_at` is not before `from`; returns how many
    /// and the last `expires_at` deleted (the next batch's `from`, so a batch
    /// never rescans what earlier batches deleted). Never touches other rows.
    /// Several callers at once must not delete a row twice or wait on each
    /// other long.
    fn delete_expired(
        &self,
        from: DateTime<Utc>,
        limit: usize,
    ) -> impl Future<Output = Result<ExpungedBatch, StoreError>> + Send;

    // Sessions (authentication reads a token's session with its row).

    /// The rows whose `jti` is `jti` and `sid` (when given), whatever their
    /// purpose or expiry, in one round trip: the verifier judges them.
    fn lookup(
        &self,
        jti: &str,
        sid: Option<&str>,
    ) -> impl Future<Output = Result<Rows, StoreError>> + Send;

    /// Inserts rows for `jti`s just minted, all or none (one statement),
    /// with `events`.
    fn insert_tokens(
        &self,
        rows: &[NewTokenRow],
        events: &[AuditEvent],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Flips session rows of `subject` to revocations (keeping their
    /// expiry): one, all but one, or all. Returns how many; `events` are
    /// appended when it ended any.
    fn end_sessions(
        &self,
        subject: &str,
        which: Sessions<'_>,
        events: &[AuditEvent],
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
}

/// What refresh tokens (the rotation) and the device list need beyond
/// [`TokenStore`]: a store that leaves it out still runs tokens,
/// revocation, sessions and sign-out.
pub trait RefreshStore: TokenStore {
    /// The refresh rotation, one atomic write. When the session `sid` of
    /// `subject` is a live `session` row, and the row `old_jti` of `subject`
    /// is an unexpired `refresh` row, it becomes `refresh_used` (its
    /// `updated_at`: now; `extra_data.successor`: `successor`) and
    /// `new_rows` are inserted; or, when it is a `refresh_used` row first
    /// used no longer than `reuse_grace` ago, nothing is inserted and its
    /// `extra_data.successor` is returned (a retry gets the same
    /// successor: one used refresh token never has two). In both cases
    /// the session's `extra_data.last_seen_at` is set to now. Otherwise
    /// nothing is written. `rotation.events` are appended when it
    /// `rotated` (a sibling writes no event). See [`Rotated`].
    fn rotate_refresh(
        &self,
        rotation: &Rotation<'_>,
    ) -> impl Future<Output = Result<Rotated, StoreError>> + Send;

    /// The live session rows of `subject` (purpose `session`, expiring after `now`).
    fn list_sessions(
        &self,
        subject: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<TokenRow>, StoreError>> + Send;
}

/// What the single-use tokens (sign-in tokens, password reset, magic
/// links, confirmation) need beyond [`TokenStore`].
pub trait SingleUseStore: TokenStore {
    /// Spends the single-use token `redeem` (its row, live and of its
    /// purpose and subject, becomes a revocation) and inserts `new_rows`
    /// (a sign-in's), both or neither, in one atomic write. `false`,
    /// writing nothing, when the row is not such a row. Of concurrent calls
    /// for one `jti`, at most one returns `true`. `events` are appended
    /// with a `true`.
    fn redeem(
        &self,
        redeem: &Redeem<'_>,
        new_rows: &[NewTokenRow],
        events: &[AuditEvent],
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// The live rows of `subject` with `purpose` (expiring after `now`):
    /// the pending single-use tokens a cap counts.
    fn live_tokens(
        &self,
        subject: &str,
        purpose: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<TokenRow>, StoreError>> + Send;
}

/// One failure to count ([`AttemptStore::record_failures`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Failure<'a> {
    /// The counter (an identity's or a client address's).
    pub key: &'a str,
    /// The count within a window that locks the counter.
    pub max_failures: u32,
}

/// Failed-attempt counters (the `brute_force` add-on), in the table beside
/// the bound token table (`<token table>_attempts`), so every node sees the
/// same counts. Time is the store's clock (a SQL store's `now()`, or this
/// process's where the database has none).
pub trait AttemptStore: Send + Sync {
    /// Of `keys`, the counters locked now, with when each unlocks.
    fn locked_attempts(
        &self,
        keys: &[String],
    ) -> impl Future<Output = Result<Vec<(String, DateTime<Utc>)>, StoreError>> + Send;

    /// Counts one failure against each counter, all in one atomic write:
    /// a counter without a row, or whose window has passed, starts a new
    /// window of `window` at one failure; otherwise its count grows. A
    /// count reaching the failure's `max_failures` locks the counter for
    /// `lockout` from now. Concurrent calls never lose a count. `events`
    /// (the failed sign-in) are appended in the same write; a store that
    /// is also an [`AuditStore`] keeps both in one transaction.
    fn record_failures(
        &self,
        failures: &[Failure<'_>],
        window: Duration,
        lockout: Duration,
        events: &[AuditEvent],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Deletes these counters (a successful sign-in, a password reset).
    fn clear_attempts(
        &self,
        keys: &[String],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Deletes at most `limit` counters whose window and lock have both
    /// passed; how many.
    fn delete_expired_attempts(
        &self,
        limit: usize,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
}

/// Storage of security events (the `audit_log` add-on), in the table
/// beside the bound token table (`<token table>_events`).
pub trait AuditStore: Send + Sync {
    /// Appends events, in one write.
    fn insert_events(
        &self,
        events: &[AuditEvent],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The newest `limit` events of `subject`, newest first.
    fn list_events(
        &self,
        subject: &str,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<AuditEvent>, StoreError>> + Send;

    /// Deletes at most `limit` events older than `before`; how many.
    fn delete_events_before(
        &self,
        before: DateTime<Utc>,
        limit: usize,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
}

/// Storage of API keys (the `api_key` strategy), in the table beside the
/// bound token table (`<token table>_api_keys`). Keys are never stored
/// whole: a row holds the hash of the secret.
pub trait ApiKeyStore: TokenStore {
    /// Inserts `key` unless its subject already holds `max` live keys (not
    /// revoked, not expired): `false`, writing nothing, then. One atomic
    /// write: concurrent inserts never pass the cap. `events` are appended
    /// with a `true`.
    fn insert_api_key(
        &self,
        key: &NewApiKey,
        max: usize,
        events: &[AuditEvent],
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// The key `id`, whatever its state.
    fn get_api_key(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<ApiKeyRow>, StoreError>> + Send;

    /// The keys of `subject` not revoked and expiring after `now`, oldest
    /// first.
    fn list_api_keys(
        &self,
        subject: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<ApiKeyRow>, StoreError>> + Send;

    /// Revokes the key `id` if it is a key of `subject` not yet revoked;
    /// whether it was (`events` are appended with a `true`).
    fn revoke_api_key(
        &self,
        subject: &str,
        id: &str,
        events: &[AuditEvent],
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Revokes every key of `subject`; how many (`events` are appended
    /// when it revoked any).
    fn revoke_api_keys(
        &self,
        subject: &str,
        events: &[AuditEvent],
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Records uses, in one write: each key's `last_used_at` becomes the
    /// later of its own and the one given.
    fn record_api_key_uses(
        &self,
        uses: &[(String, DateTime<Utc>)],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Deletes at most `limit` keys that can never authenticate again
    /// (revoked, or expired by the store's clock); how many. Lists never
    /// show them, so a user who makes and revokes keys in a loop leaves
    /// rows only until the expunger runs.
    fn delete_dead_api_keys(
        &self,
        limit: usize,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
}

/// The rows [`TokenStore::lookup`] found.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rows {
    /// What verification reads of the row of the token's `jti`, if any.
    pub token: Option<TokenRowFacts>,
    /// What verification reads of its session's row, if asked for and
    /// found.
    pub session: Option<SessionFacts>,
}

/// Which sessions [`TokenStore::end_sessions`] ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sessions<'a> {
    /// This one.
    One(&'a str),
    /// Every one but this one.
    AllBut(&'a str),
    /// Every one.
    All,
}

impl Sessions<'_> {
    /// Whether the session `sid` is one of these.
    pub fn includes(&self, sid: &str) -> bool {
        match self {
            Self::One(one) => *one == sid,
            Self::AllBut(but) => *but != sid,
            Self::All => true,
        }
    }
}

/// A refresh rotation to attempt ([`RefreshStore::rotate_refresh`]).
#[derive(Clone, Copy, Debug)]
pub struct Rotation<'a> {
    /// The presented refresh token's `jti`.
    pub old_jti: &'a str,
    /// Its session.
    pub sid: &'a str,
    /// Its subject (every row involved must be this subject's).
    pub subject: &'a str,
    /// How long after its first use a refresh token still buys a sibling
    /// pair; zero: never (not even a use within the same instant).
    pub reuse_grace: Duration,
    /// The rows of the new pair (refresh, and the access token when stored).
    pub new_rows: &'a [NewTokenRow],
    /// What the used row keeps of the new pair (`extra_data.successor`),
    /// handed back to a retry within the grace.
    pub successor: &'a Value,
    /// Security events appended when it rotates (see [`TokenStore`]).
    pub events: &'a [AuditEvent],
}

impl Rotation<'_> {
    /// The rotation's decision for a store that reads the rows and then
    /// writes under one lock (or one write transaction): `session` and `old`
    /// are the rows of `sid` and `old_jti` as found. When the result has
    /// `rotated` or `sibling` set, the store touches the session, and when
    /// `rotated` marks the old row `refresh_used` with the successor and
    /// inserts `new_rows`; otherwise it writes nothing. A sibling's
    /// `successor` is read from the old row here.
    pub fn decide(
        &self,
        session: Option<&SessionFacts>,
        old: Option<&TokenRow>,
        now: DateTime<Utc>,
    ) -> Rotated {
        let session_live = session.is_some_and(|r| r.is_live_session(self.subject, now));
        let old = old.filter(|r| r.subject == self.subject);
        let grace = chrono::Duration::from_std(self.reuse_grace).unwrap_or(chrono::Duration::MAX);
        let mut seen = Rotated {
            old_purpose: old.map(|r| r.purpose.clone()),
            session_live,
            ..Rotated::default()
        };
        if session_live {
            match old {
                Some(r) if r.purpose == Purpose::REFRESH.as_str() && r.expires_at > now => {
                    seen.rotated = true;
                }
                Some(r)
                    if !self.reuse_grace.is_zero()
                        && r.purpose == Purpose::REFRESH_USED.as_str()
                        && now - r.updated_at <= grace =>
                {
                    seen.sibling = true;
                    seen.successor = r
                        .extra_data
                        .as_ref()
                        .and_then(|e| e.get(SUCCESSOR))
                        .cloned();
                }
                _ => {}
            }
        }
        seen
    }
}

/// The key of a used refresh row's `extra_data` that holds its successor.
pub const SUCCESSOR: &str = "successor";

/// What [`RefreshStore::rotate_refresh`] did and saw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rotated {
    /// The old token was unused and is now used; the new rows are in.
    pub rotated: bool,
    /// The old token was used within the grace; nothing was inserted.
    pub sibling: bool,
    /// With `sibling`: the successor the first use recorded (`None` for a
    /// row used before successors were recorded).
    pub successor: Option<Value>,
    /// The old row's purpose as the operation saw it (`None`: no row). A
    /// SQL store may report `refresh` with neither flag set when a
    /// concurrent rotation won the row: the caller asks again.
    pub old_purpose: Option<String>,
    /// Whether the session was live.
    pub session_live: bool,
}

/// "Log out everywhere", alone or as part of another write: flip the rows
/// of `subject` passing `filter` to revocations kept `keep_for` past their
/// expiry, and with `api_keys` revoke the subject's API keys too.
#[derive(Clone, Copy, Debug)]
pub struct RevokeAll<'a> {
    /// Whose rows.
    pub subject: &'a str,
    /// Which purposes.
    pub filter: &'a PurposeFilter,
    /// How much longer than the token a revocation row is kept.
    pub keep_for: Duration,
    /// Whether the subject's API keys are revoked in the same write.
    pub api_keys: bool,
    /// Only the rows bound to this tenant (log out everywhere in one
    /// tenant, a membership ended); `None`: the subject's rows in every
    /// tenant.
    pub tenant: Option<&'a str>,
}

impl<'a> RevokeAll<'a> {
    /// The rows of `subject` passing `filter`, kept `keep_for`; no API keys.
    pub fn tokens(subject: &'a str, filter: &'a PurposeFilter, keep_for: Duration) -> Self {
        Self {
            subject,
            filter,
            keep_for,
            api_keys: false,
            tenant: None,
        }
    }

    /// Only the rows bound to `tenant`.
    pub fn in_tenant(self, tenant: Option<&'a str>) -> Self {
        Self { tenant, ..self }
    }
}

/// A password change as one atomic store write ([`PasswordStore::change_password`]).
#[derive(Clone, Copy, Debug)]
pub struct PasswordChange<'a, K> {
    /// The user's primary key.
    pub key: &'a K,
    /// The hash the caller proved the current password against: the write
    /// happens only while it is still the stored hash (compare-and-swap).
    pub current_hash: &'a str,
    /// The new hash; the only user column written.
    pub new_hash: &'a str,
    /// Earlier tokens to revoke in the same write (log out everywhere).
    pub revoke: Option<RevokeAll<'a>>,
    /// Rows minted for the caller (a new session and its tokens) to record
    /// in the same write (not revoked by `revoke`).
    pub new_rows: &'a [NewTokenRow],
    /// A single-use token this change redeems (a password reset): the
    /// change happens only if its row is a live row of this purpose and
    /// subject, and then the row becomes a revocation in the same write.
    /// Of concurrent redemptions of one token, at most one changes anything.
    pub redeem: Option<Redeem<'a>>,
    /// Security events appended when the change is made (see
    /// [`TokenStore`]).
    pub events: &'a [AuditEvent],
}

/// A single-use token spent by the write that applies its effect.
#[derive(Clone, Copy, Debug)]
pub struct Redeem<'a> {
    /// The token's `jti`.
    pub jti: &'a str,
    /// Its subject.
    pub subject: &'a str,
    /// The purpose its row must have.
    pub purpose: &'a str,
}

/// What one [`TokenStore::delete_expired`] call removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExpungedBatch {
    /// Rows deleted.
    pub deleted: u64,
    /// The latest `expires_at` among them.
    pub last_expires_at: Option<DateTime<Utc>>,
}

/// Why a user could not be inserted.
#[derive(Debug, thiserror::Error)]
pub enum InsertUserError {
    /// Another user already has this identity (or primary key).
    #[error("identity is already taken")]
    IdentityTaken,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Storage of users of one [`UserResource`].
pub trait UserStore<U: UserResource>: Send + Sync {
    /// The user with this primary key.
    fn get_user(
        &self,
        key: &U::PrimaryKey,
    ) -> impl Future<Output = Result<Option<U>, StoreError>> + Send;

    /// The user with this identity (the password strategy's identity field).
    fn get_user_by_identity(
        &self,
        identity: &str,
    ) -> impl Future<Output = Result<Option<U>, StoreError>> + Send;

    /// Inserts a new user; atomically refuses a taken identity or primary key.
    fn insert_user(&self, user: &U) -> impl Future<Output = Result<(), InsertUserError>> + Send;

    /// Replaces the stored user with the same primary key; `false` if none.
    fn update_user(&self, user: &U) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Applies `fields` (part of the user's serde form: field name to
    /// value) to the user `key` in the same atomic write that spends the
    /// single-use token `redeem` (a confirmation): both or neither. `false`,
    /// writing nothing, when the token is not a live row of its purpose
    /// and subject. A taken identity is an error, and spends nothing.
    /// `events` are appended with a `true`.
    fn apply_redeemed(
        &self,
        key: &U::PrimaryKey,
        fields: &serde_json::Map<String, Value>,
        redeem: &Redeem<'_>,
        events: &[AuditEvent],
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Inserts a new user and, in the same atomic write, the rows of what
    /// was just minted for it (its first token, its session): all or
    /// nothing, so registration never leaves a user without its rows or
    /// rows without their user. A taken identity or primary key is
    /// [`InsertUserError::IdentityTaken`], and nothing is written. `rows`
    /// may be empty; `events` (the registration) are appended with the
    /// user.
    fn insert_user_with_tokens(
        &self,
        user: &U,
        rows: &[NewTokenRow],
        events: &[AuditEvent],
    ) -> impl Future<Output = Result<(), InsertUserError>> + Send;

    /// What authenticating a request needs, in one round trip: the rows of
    /// the token's `jti` and of its session `sid` (whatever their purpose or
    /// expiry: the verifier judges them) and the user with `key`. A store
    /// that can answer in one round trip overrides this; the default asks
    /// twice.
    fn authenticate_lookup(
        &self,
        key: &U::PrimaryKey,
        jti: &str,
        sid: Option<&str>,
    ) -> impl Future<Output = Result<(Rows, Option<U>), StoreError>> + Send
    where
        Self: TokenStore,
    {
        async move {
            let rows = self.lookup(jti, sid).await?;
            let user = self.get_user(key).await?;
            Ok((rows, user))
        }
    }

    /// What authenticating an API key needs, in one round trip: the key's
    /// row (whatever its state: the runtime judges it) and its user. A
    /// store that can answer in one round trip overrides this; the default
    /// asks twice.
    fn api_key_lookup(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<KeyAndUser<U>, StoreError>> + Send
    where
        Self: ApiKeyStore,
    {
        async move {
            let Some(row) = self.get_api_key(id).await? else {
                return Ok((None, None));
            };
            let key = crate::subject::canonical_key::<U::PrimaryKey>(
                &row.subject,
                U::SUBJECT_NAME,
                U::PRIMARY_KEY_FIELD,
            );
            let user = match key {
                Ok(key) => self.get_user(&key).await?,
                Err(_) => None,
            };
            Ok((Some(row), user))
        }
    }
}

/// One round trip for an API key: see [`UserStore::api_key_lookup`].
type KeyAndUser<U> = (Option<ApiKeyRow>, Option<U>);

/// Storage of users with a password: the writes the password strategy needs
/// beyond [`UserStore`].
pub trait PasswordStore<U: PasswordUser>: UserStore<U> + AttemptStore {
    /// Changes a password in one atomic write: only if the stored hash is
    /// still `change.current_hash` (else `false` and nothing is written),
    /// sets the hash column alone (other columns changed meanwhile are kept),
    /// revokes the earlier tokens and records the new one, all together.
    fn change_password(
        &self,
        change: &PasswordChange<'_, U::PrimaryKey>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// What a password sign-in reads, in one round trip where the store
    /// can: the user with this identity ([`UserStore::get_user_by_identity`])
    /// and, of the counters `keys`, the ones locked now
    /// ([`AttemptStore::locked_attempts`]). The default asks the two in turn.
    fn sign_in_lookup(
        &self,
        identity: &str,
        keys: &[String],
    ) -> impl Future<Output = Result<SignInRows<U>, StoreError>> + Send {
        async move {
            let user = self.get_user_by_identity(identity).await?;
            let locked = if keys.is_empty() {
                Vec::new()
            } else {
                self.locked_attempts(keys).await?
            };
            Ok(SignInRows { user, locked })
        }
    }
}

/// What a password sign-in reads ([`PasswordStore::sign_in_lookup`]).
#[derive(Clone, Debug)]
pub struct SignInRows<U> {
    /// The user with the identity, when there is one.
    pub user: Option<U>,
    /// The counters locked now, with when each unlocks.
    pub locked: Vec<(String, DateTime<Utc>)>,
}

/// For store implementations: what a store builds once per table (its
/// statements, a table's columns) and reads on every call. Readers share a
/// lock; a value is built on first use.
#[derive(Debug)]
pub struct PerTable<K, V> {
    map: RwLock<HashMap<K, V>>,
}

impl<K, V> Default for PerTable<K, V> {
    fn default() -> Self {
        Self {
            map: RwLock::new(HashMap::new()),
        }
    }
}

impl<K: Eq + Hash, V: Clone> PerTable<K, V> {
    /// The value for `key`, if built.
    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        self.map
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .cloned()
    }

    /// Sets the value for `key`.
    pub fn insert(&self, key: K, value: V) {
        self.map
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, value);
    }

    /// Forgets the value for `key` (built again on next use).
    pub fn remove<Q>(&self, key: &Q)
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        self.map
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }

    /// The value for `key`, built by `make` (which returns the key to keep
    /// it under) on first use.
    pub fn get_or_try_insert<Q, E>(
        &self,
        key: &Q,
        make: impl FnOnce() -> Result<(K, V), E>,
    ) -> Result<V, E>
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        if let Some(v) = self.get(key) {
            return Ok(v);
        }
        let (k, v) = make()?;
        self.insert(k, v.clone());
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::{PerTable, Purpose, Rotation, TokenRow};

    fn row(jti: &str, purpose: &Purpose, at: chrono::DateTime<chrono::Utc>) -> TokenRow {
        TokenRow {
            jti: jti.into(),
            subject: "user?id=1".into(),
            expires_at: at + chrono::Duration::days(1),
            purpose: purpose.as_str().into(),
            extra_data: None,
            created_at: at,
            updated_at: at,
            tenant: None,
        }
    }

    #[test]
    fn no_grace_means_no_sibling_even_in_the_same_instant() {
        let now = chrono::Utc::now();
        let session = super::SessionFacts::from(row("s", &Purpose::SESSION, now));
        let used = row("r", &Purpose::REFRESH_USED, now);
        let rotation = |secs| Rotation {
            old_jti: "r",
            sid: "s",
            subject: "user?id=1",
            reuse_grace: std::time::Duration::from_secs(secs),
            new_rows: &[],
            successor: &serde_json::Value::Null,
            events: &[],
        };
        assert!(!rotation(0).decide(Some(&session), Some(&used), now).sibling);
        assert!(
            rotation(30)
                .decide(Some(&session), Some(&used), now)
                .sibling
        );
    }

    #[test]
    fn per_table_builds_once_and_keeps_nothing_on_error() {
        let t: PerTable<String, u32> = PerTable::default();
        let mut built = 0;
        let v = t.get_or_try_insert("a", || {
            built += 1;
            Ok::<_, ()>(("a".to_owned(), 7))
        });
        assert_eq!(v, Ok(7));
        let v = t.get_or_try_insert("a", || {
            built += 1;
            Ok::<_, ()>(("a".to_owned(), 8))
        });
        assert_eq!((v, built), (Ok(7), 1));
        assert_eq!(
            t.get_or_try_insert("b", || Err::<(String, u32), _>("bad")),
            Err("bad")
        );
        assert_eq!(t.get("b"), None);
    }
}
