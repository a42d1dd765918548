//! `MemoryStore`: the embedded store for tests and demos, safe under concurrent use.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::api_key::{ApiKeyRow, NewApiKey};
use crate::audit::AuditEvent;
use crate::config::{DEFAULT_TOKEN_TABLE, Purpose};
use crate::error::StoreError;
use crate::store::{
    ApiKeyStore, AttemptStore, AuditStore, ExpungedBatch, Failure, InsertUserError, NewTokenRow,
    PasswordChange, PasswordStore, Redeem, RefreshStore, RevokeAll, Rotated, Rotation, Rows,
    SessionFacts, Sessions, SingleUseStore, TokenRow, TokenRowFacts, TokenStore, UserStore,
};
use crate::subject::SubjectKey;
use crate::user::{PasswordUser, UserResource};

/// An in-memory token and user store. Cloning shares the same data.
///
/// Every operation takes one lock for its whole duration, which makes each
/// one atomic as the [`TokenStore`] contract requires. Users are kept as
/// values, one table per subject name, so any [`UserResource`] fits.
#[derive(Clone, Debug)]
pub struct MemoryStore {
    inner: Arc<Mutex<Inner>>,
    /// The token table this store is bound to; clones bound to other
    /// tables share `inner`, each table its own namespace.
    table: Arc<str>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self {
            inner: Arc::default(),
            table: DEFAULT_TOKEN_TABLE.into(),
        }
    }
}

/// A failed-attempt counter.
#[derive(Clone, Copy, Debug)]
struct Counter {
    failures: u32,
    window_ends: DateTime<Utc>,
    locked_until: Option<DateTime<Utc>>,
}

impl Counter {
    fn expires_at(&self) -> DateTime<Utc> {
        self.locked_until
            .map_or(self.window_ends, |l| l.max(self.window_ends))
    }
}

#[derive(Default)]
struct Inner {
    tokens: HashMap<String, HashMap<String, TokenRow>>,
    /// API keys by id, per token table.
    api_keys: HashMap<String, HashMap<String, ApiKeyRow>>,
    /// Failed-attempt counters by key, per token table.
    attempts: HashMap<String, HashMap<String, Counter>>,
    /// Security events, oldest first, per token table.
    events: HashMap<String, Vec<AuditEvent>>,
    /// `UserTable<U>` per subject name.
    users: HashMap<&'static str, Box<dyn Any + Send>>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inner")
            .field("token_tables", &self.tokens.len())
            .field("user_tables", &self.users.len())
            .finish()
    }
}

struct UserTable<U> {
    by_key: HashMap<String, U>,
    key_by_identity: HashMap<String, String>,
}

impl<U> Default for UserTable<U> {
    fn default() -> Self {
        Self {
            by_key: HashMap::new(),
            key_by_identity: HashMap::new(),
        }
    }
}

impl Inner {
    /// Appends `events` to the table's, under the lock of the write they
    /// go with.
    fn keep_events(&mut self, table: &str, events: &[AuditEvent]) {
        if !events.is_empty() {
            let kept = self.events.entry(table.to_owned()).or_default();
            kept.extend_from_slice(events);
        }
    }

    fn users<U: UserResource>(&self) -> Result<Option<&UserTable<U>>, StoreError> {
        match self.users.get(U::SUBJECT_NAME) {
            None => Ok(None),
            Some(t) => t.downcast_ref().map(Some).ok_or_else(clash::<U>),
        }
    }

    fn users_mut<U: UserResource>(&mut self) -> Result<&mut UserTable<U>, StoreError> {
        self.users
            .entry(U::SUBJECT_NAME)
            .or_insert_with(|| Box::new(UserTable::<U>::default()))
            .downcast_mut()
            .ok_or_else(clash::<U>)
    }
}

impl<U: UserResource> UserTable<U> {
    fn check_insert(&self, user: &U) -> Result<String, InsertUserError> {
        let key = user.primary_key().to_subject_value();
        if self.by_key.contains_key(&key)
            || user
                .identity()
                .is_some_and(|i| self.key_by_identity.contains_key(i))
        {
            return Err(InsertUserError::IdentityTaken);
        }
        Ok(key)
    }

    /// Whether `user` may replace the stored user of `key`: `None` when
    /// there is none; an error when its new identity is someone else's.
    fn check_update(&self, key: &str, user: &U) -> Result<Option<()>, StoreError> {
        let Some(old) = self.by_key.get(key) else {
            return Ok(None);
        };
        let new_identity = user.identity();
        if old.identity() != new_identity
            && new_identity.is_some_and(|i| self.key_by_identity.contains_key(i))
        {
            return Err(StoreError::msg("identity is already taken"));
        }
        Ok(Some(()))
    }

    /// Replaces a user [`UserTable::check_update`] accepted, moving its
    /// identity in the index.
    fn replace(&mut self, key: String, user: U) {
        let old = self
            .by_key
            .get(&key)
            .and_then(|u| u.identity().map(str::to_owned));
        if old.as_deref() != user.identity() {
            if let Some(old) = old {
                self.key_by_identity.remove(&old);
            }
            if let Some(new) = user.identity() {
                self.key_by_identity.insert(new.to_owned(), key.clone());
            }
        }
        self.by_key.insert(key, user);
    }

    /// Inserts a user [`UserTable::check_insert`] accepted.
    fn insert(&mut self, key: String, user: &U) {
        if let Some(identity) = user.identity() {
            self.key_by_identity
                .insert(identity.to_owned(), key.clone());
        }
        self.by_key.insert(key, user.clone());
    }
}

/// Fresh rows for `jti`s that must not exist yet: all inserted, or none
/// (each is checked before any is written).
fn insert_fresh(
    rows: &mut HashMap<String, TokenRow>,
    new: &[NewTokenRow],
) -> Result<(), StoreError> {
    let mut jtis = std::collections::HashSet::new();
    if new
        .iter()
        .any(|n| rows.contains_key(&n.jti) || !jtis.insert(&n.jti))
    {
        return Err(StoreError::msg("a token row with this jti already exists"));
    }
    let now = Utc::now();
    for n in new {
        rows.insert(n.jti.clone(), row(n, now));
    }
    Ok(())
}

fn revoke_all(rows: &mut HashMap<String, TokenRow>, revoke: &RevokeAll<'_>) -> u64 {
    revoke_rows(rows, revoke.keep_for, |r| {
        r.subject == revoke.subject
            && revoke.filter.matches(&r.purpose)
            && revoke.tenant.is_none_or(|t| r.tenant.as_deref() == Some(t))
    })
}

/// Flips the rows `which` selects (not already revocations) to revocations
/// kept `keep_for` past their expiry; how many.
fn revoke_rows(
    rows: &mut HashMap<String, TokenRow>,
    keep_for: std::time::Duration,
    which: impl Fn(&TokenRow) -> bool,
) -> u64 {
    let now = Utc::now();
    let keep_for = chrono::Duration::from_std(keep_for).unwrap_or(chrono::Duration::MAX);
    let mut count = 0;
    for r in rows.values_mut() {
        if r.purpose != REVOCATION && which(r) {
            r.purpose = REVOCATION.to_owned();
            r.expires_at = r
                .expires_at
                .checked_add_signed(keep_for)
                .unwrap_or(r.expires_at);
            r.updated_at = now;
            count += 1;
        }
    }
    count
}

/// Revokes every live key of `subject`; how many.
fn revoke_keys(inner: &mut Inner, table: &str, subject: &str) -> u64 {
    let mut count = 0;
    for k in inner
        .api_keys
        .get_mut(table)
        .into_iter()
        .flat_map(HashMap::values_mut)
        .filter(|k| k.subject == subject && !k.revoked)
    {
        k.revoked = true;
        count += 1;
    }
    count
}

fn clash<U: UserResource>() -> StoreError {
    StoreError::msg(format!(
        "two user types share the subject name `{}`",
        U::SUBJECT_NAME
    ))
}

impl MemoryStore {
    /// An empty store, bound to the token table `tokens`.
    pub fn new() -> Self {
        Self::default()
    }

    /// This store's data, bound to the token table `table` (the token
    /// resource's `table`): the rows of each table are apart, as in SQL.
    pub fn with_token_table(self, table: &str) -> Self {
        Self {
            table: table.into(),
            ..self
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave a half-written row
        // (each operation writes at most one map entry last), so a poisoned
        // lock is still consistent.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes `new` with `purpose` (keeping the row's creation time) unless
    /// the `jti` already is a revocation row: the one conditional write both
    /// upsert and revocation rest on. `false` when a revocation blocked it.
    /// `read` of the row of `jti` in its table (`None`: no such row).
    fn with_row<T>(&self, jti: &str, read: impl FnOnce(Option<&TokenRow>) -> T) -> T {
        let inner = self.lock();
        read(
            inner
                .tokens
                .get(&*self.table)
                .and_then(|rows| rows.get(jti)),
        )
    }

    /// Copies of up to `limit` rows of its table that `keep` accepts.
    fn select(&self, limit: usize, keep: impl Fn(&TokenRow) -> bool) -> Vec<TokenRow> {
        let inner = self.lock();
        inner
            .tokens
            .get(&*self.table)
            .into_iter()
            .flat_map(HashMap::values)
            .filter(|r| keep(r))
            .take(limit)
            .cloned()
            .collect()
    }

    fn write_unless_revoked(
        &self,
        new: &NewTokenRow,
        purpose: &str,
        events: &[AuditEvent],
    ) -> bool {
        let mut inner = self.lock();
        inner.keep_events(&self.table, events);
        let rows = inner.tokens.entry(self.table.to_string()).or_default();
        match rows.get(&new.jti) {
            Some(existing) if existing.purpose == REVOCATION => false,
            existing => {
                let created = existing.map_or_else(Utc::now, |r| r.created_at);
                let mut written = row(new, created);
                written.purpose = purpose.to_owned();
                rows.insert(new.jti.clone(), written);
                true
            }
        }
    }

    /// How many rows its token table holds (for tests and the demo).
    pub fn token_count(&self) -> usize {
        self.lock().tokens.get(&*self.table).map_or(0, HashMap::len)
    }
}

fn row(new: &NewTokenRow, created_at: DateTime<Utc>) -> TokenRow {
    TokenRow {
        jti: new.jti.clone(),
        subject: new.subject.clone(),
        expires_at: new.expires_at,
        purpose: new.purpose.clone(),
        extra_data: new.extra_data.clone(),
        created_at,
        updated_at: Utc::now(),
        tenant: new.tenant.clone(),
    }
}

/// Flips the single-use token `redeem` to a revocation if it is a live row
/// of its purpose and subject; whether it was.
fn spend(rows: &mut HashMap<String, TokenRow>, redeem: &Redeem<'_>, now: DateTime<Utc>) -> bool {
    match rows.get_mut(redeem.jti) {
        Some(row)
            if row.purpose == redeem.purpose
                && row.subject == redeem.subject
                && row.expires_at > now =>
        {
            row.purpose = Purpose::REVOCATION.as_str().to_owned();
            row.updated_at = now;
            true
        }
        _ => false,
    }
}

impl TokenStore for MemoryStore {
    fn token_table(&self) -> &str {
        &self.table
    }

    async fn upsert_token(&self, new: &NewTokenRow) -> Result<bool, StoreError> {
        Ok(self.write_unless_revoked(new, &new.purpose, &[]))
    }

    async fn insert_token(&self, new: &NewTokenRow) -> Result<(), StoreError> {
        let mut inner = self.lock();
        insert_fresh(
            inner.tokens.entry(self.table.to_string()).or_default(),
            std::slice::from_ref(new),
        )
    }

    async fn get_token(
        &self,
        jti: &str,
        purpose: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Option<TokenRow>, StoreError> {
        let live = |r: &&TokenRow| r.expires_at > now && purpose.is_none_or(|p| r.purpose == p);
        Ok(self.with_row(jti, |r| r.filter(live).cloned()))
    }

    async fn insert_revocation(
        &self,
        new: &NewTokenRow,
        events: &[AuditEvent],
    ) -> Result<bool, StoreError> {
        Ok(self.write_unless_revoked(new, REVOCATION, events))
    }

    async fn is_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        Ok(self.with_row(jti, |r| r.is_some_and(|r| r.purpose == REVOCATION)))
    }

    async fn revoke_all_for_subject(
        &self,
        revoke: &RevokeAll<'_>,
        events: &[AuditEvent],
    ) -> Result<u64, StoreError> {
        let mut inner = self.lock();
        inner.keep_events(&self.table, events);
        if revoke.api_keys {
            revoke_keys(&mut inner, &self.table, revoke.subject);
        }
        let Some(rows) = inner.tokens.get_mut(&*self.table) else {
            return Ok(0);
        };
        Ok(revoke_all(rows, revoke))
    }

    async fn revoke_tenant(
        &self,
        tenant: &str,
        keep_for: std::time::Duration,
    ) -> Result<u64, StoreError> {
        let mut inner = self.lock();
        let Some(rows) = inner.tokens.get_mut(&*self.table) else {
            return Ok(0);
        };
        Ok(revoke_rows(rows, keep_for, |r| {
            r.tenant.as_deref() == Some(tenant)
        }))
    }

    async fn read_expired(&self, limit: usize) -> Result<Vec<TokenRow>, StoreError> {
        let now = Utc::now();
        Ok(self.select(limit, |r| r.expires_at < now))
    }

    async fn delete_expired(
        &self,
        from: DateTime<Utc>,
        limit: usize,
    ) -> Result<ExpungedBatch, StoreError> {
        let now = Utc::now();
        let mut inner = self.lock();
        let Some(rows) = inner.tokens.get_mut(&*self.table) else {
            return Ok(ExpungedBatch::default());
        };
        let mut doomed: Vec<(DateTime<Utc>, String)> = rows
            .values()
            .filter(|r| r.expires_at < now && r.expires_at >= from)
            .map(|r| (r.expires_at, r.jti.clone()))
            .collect();
        doomed.sort_unstable();
        doomed.truncate(limit);
        for (_, jti) in &doomed {
            rows.remove(jti);
        }
        Ok(ExpungedBatch {
            deleted: doomed.len() as u64,
            last_expires_at: doomed.last().map(|(at, _)| *at),
        })
    }

    async fn lookup(&self, jti: &str, sid: Option<&str>) -> Result<Rows, StoreError> {
        let inner = self.lock();
        let rows = inner.tokens.get(&*self.table);
        let get = |jti: &str| rows.and_then(|r| r.get(jti)).cloned();
        Ok(Rows {
            token: get(jti).map(TokenRowFacts::from),
            session: sid.and_then(get).map(SessionFacts::from),
        })
    }

    async fn insert_tokens(
        &self,
        new: &[NewTokenRow],
        events: &[AuditEvent],
    ) -> Result<(), StoreError> {
        let mut inner = self.lock();
        insert_fresh(inner.tokens.entry(self.table.to_string()).or_default(), new)?;
        inner.keep_events(&self.table, events);
        Ok(())
    }

    async fn end_sessions(
        &self,
        subject: &str,
        which: Sessions<'_>,
        events: &[AuditEvent],
    ) -> Result<u64, StoreError> {
        let now = Utc::now();
        let mut inner = self.lock();
        let Some(rows) = inner.tokens.get_mut(&*self.table) else {
            return Ok(0);
        };
        let mut ended = 0;
        for r in rows.values_mut() {
            if r.purpose == SESSION && r.subject == subject && which.includes(&r.jti) {
                r.purpose = REVOCATION.to_owned();
                r.updated_at = now;
                ended += 1;
            }
        }
        if ended > 0 {
            inner.keep_events(&self.table, events);
        }
        Ok(ended)
    }
}

impl RefreshStore for MemoryStore {
    async fn rotate_refresh(&self, rotation: &Rotation<'_>) -> Result<Rotated, StoreError> {
        let now = Utc::now();
        let mut inner = self.lock();
        let rows = inner.tokens.entry(self.table.to_string()).or_default();
        let session = rows.get(rotation.sid).cloned().map(SessionFacts::from);
        let seen = rotation.decide(session.as_ref(), rows.get(rotation.old_jti), now);
        if !(seen.rotated || seen.sibling) {
            return Ok(seen);
        }
        if seen.rotated {
            insert_fresh(rows, rotation.new_rows)?;
            if let Some(old) = rows.get_mut(rotation.old_jti) {
                old.purpose = REFRESH_USED.to_owned();
                old.updated_at = now;
                let extra = old
                    .extra_data
                    .get_or_insert_with(|| serde_json::Value::Object(serde_json::Map::new()));
                if let serde_json::Value::Object(map) = extra {
                    map.insert(crate::store::SUCCESSOR.into(), rotation.successor.clone());
                }
            }
        }
        if let Some(session) = rows.get_mut(rotation.sid) {
            let extra = session
                .extra_data
                .get_or_insert_with(|| serde_json::Value::Object(serde_json::Map::new()));
            if let serde_json::Value::Object(map) = extra {
                map.insert("last_seen_at".into(), serde_json::json!(now));
            }
            session.updated_at = now;
        }
        if seen.rotated {
            inner.keep_events(&self.table, rotation.events);
        }
        Ok(seen)
    }

    async fn list_sessions(
        &self,
        subject: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<TokenRow>, StoreError> {
        Ok(self.select(usize::MAX, |r| r.is_live_session(subject, now)))
    }
}

impl SingleUseStore for MemoryStore {
    async fn redeem(
        &self,
        redeem: &Redeem<'_>,
        new_rows: &[NewTokenRow],
        events: &[AuditEvent],
    ) -> Result<bool, StoreError> {
        let now = Utc::now();
        let mut inner = self.lock();
        let rows = inner.tokens.entry(self.table.to_string()).or_default();
        if new_rows.iter().any(|t| rows.contains_key(&t.jti)) {
            return Err(StoreError::msg("a token row with this jti already exists"));
        }
        if !spend(rows, redeem, now) {
            return Ok(false);
        }
        insert_fresh(rows, new_rows)?;
        inner.keep_events(&self.table, events);
        Ok(true)
    }

    async fn live_tokens(
        &self,
        subject: &str,
        purpose: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<TokenRow>, StoreError> {
        Ok(self.select(usize::MAX, |r| {
            r.subject == subject && r.purpose == purpose && r.expires_at > now
        }))
    }
}

impl ApiKeyStore for MemoryStore {
    async fn insert_api_key(
        &self,
        key: &NewApiKey,
        max: usize,
        events: &[AuditEvent],
    ) -> Result<bool, StoreError> {
        let now = Utc::now();
        let mut inner = self.lock();
        let keys = inner.api_keys.entry(self.table.to_string()).or_default();
        let live = keys
            .values()
            .filter(|k| k.subject == key.subject && !k.revoked && k.expires_at > now)
            .count();
        if live >= max {
            return Ok(false);
        }
        if keys.contains_key(&key.id) {
            return Err(StoreError::msg("an API key with this id already exists"));
        }
        keys.insert(
            key.id.clone(),
            ApiKeyRow {
                id: key.id.clone(),
                subject: key.subject.clone(),
                name: key.name.clone(),
                scopes: key.scopes.clone(),
                secret_hash: key.secret_hash.clone(),
                created_at: now,
                expires_at: key.expires_at,
                last_used_at: None,
                revoked: false,
            },
        );
        inner.keep_events(&self.table, events);
        Ok(true)
    }

    async fn get_api_key(&self, id: &str) -> Result<Option<ApiKeyRow>, StoreError> {
        let inner = self.lock();
        Ok(inner
            .api_keys
            .get(&*self.table)
            .and_then(|k| k.get(id))
            .cloned())
    }

    async fn list_api_keys(
        &self,
        subject: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<ApiKeyRow>, StoreError> {
        let inner = self.lock();
        let mut keys: Vec<ApiKeyRow> = inner
            .api_keys
            .get(&*self.table)
            .into_iter()
            .flat_map(HashMap::values)
            .filter(|k| k.subject == subject && !k.revoked && k.expires_at > now)
            .cloned()
            .collect();
        keys.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(keys)
    }

    async fn revoke_api_key(
        &self,
        subject: &str,
        id: &str,
        events: &[AuditEvent],
    ) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        let key = inner
            .api_keys
            .get_mut(&*self.table)
            .and_then(|k| k.get_mut(id))
            .filter(|k| k.subject == subject && !k.revoked);
        let revoked = key.map(|k| k.revoked = true).is_some();
        if revoked {
            inner.keep_events(&self.table, events);
        }
        Ok(revoked)
    }

    async fn revoke_api_keys(
        &self,
        subject: &str,
        events: &[AuditEvent],
    ) -> Result<u64, StoreError> {
        let mut inner = self.lock();
        let revoked = revoke_keys(&mut inner, &self.table, subject);
        if revoked > 0 {
            inner.keep_events(&self.table, events);
        }
        Ok(revoked)
    }

    async fn delete_dead_api_keys(&self, limit: usize) -> Result<u64, StoreError> {
        let now = Utc::now();
        let mut inner = self.lock();
        let Some(keys) = inner.api_keys.get_mut(&*self.table) else {
            return Ok(0);
        };
        let dead: Vec<String> = keys
            .values()
            .filter(|k| k.revoked || k.expires_at <= now)
            .map(|k| k.id.clone())
            .take(limit)
            .collect();
        for id in &dead {
            keys.remove(id);
        }
        Ok(dead.len() as u64)
    }

    async fn record_api_key_uses(
        &self,
        uses: &[(String, DateTime<Utc>)],
    ) -> Result<(), StoreError> {
        let mut inner = self.lock();
        if let Some(keys) = inner.api_keys.get_mut(&*self.table) {
            for (id, at) in uses {
                if let Some(k) = keys.get_mut(id) {
                    k.last_used_at = Some(k.last_used_at.map_or(*at, |was| was.max(*at)));
                }
            }
        }
        Ok(())
    }
}

impl AuditStore for MemoryStore {
    async fn insert_events(&self, events: &[AuditEvent]) -> Result<(), StoreError> {
        self.lock().keep_events(&self.table, events);
        Ok(())
    }

    async fn list_events(
        &self,
        subject: &str,
        limit: usize,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        let inner = self.lock();
        let mut found: Vec<AuditEvent> = inner
            .events
            .get(&*self.table)
            .into_iter()
            .flatten()
            .filter(|e| e.subject.as_deref() == Some(subject))
            .cloned()
            .collect();
        // Newest first; events of one instant keep their arrival order reversed.
        found.reverse();
        found.sort_by_key(|e| std::cmp::Reverse(e.at));
        found.truncate(limit);
        Ok(found)
    }

    async fn delete_events_before(
        &self,
        before: DateTime<Utc>,
        limit: usize,
    ) -> Result<u64, StoreError> {
        let mut inner = self.lock();
        let Some(events) = inner.events.get_mut(&*self.table) else {
            return Ok(0);
        };
        let mut deleted = 0usize;
        events.retain(|e| {
            let doomed = e.at < before && deleted < limit;
            deleted += usize::from(doomed);
            !doomed
        });
        Ok(deleted as u64)
    }
}

impl AttemptStore for MemoryStore {
    async fn locked_attempts(
        &self,
        keys: &[String],
    ) -> Result<Vec<(String, DateTime<Utc>)>, StoreError> {
        let now = Utc::now();
        let inner = self.lock();
        let Some(counters) = inner.attempts.get(&*self.table) else {
            return Ok(Vec::new());
        };
        Ok(keys
            .iter()
            .filter_map(|k| {
                let until = counters.get(k)?.locked_until.filter(|u| *u > now)?;
                Some((k.clone(), until))
            })
            .collect())
    }

    async fn record_failures(
        &self,
        failures: &[Failure<'_>],
        window: Duration,
        lockout: Duration,
        events: &[AuditEvent],
    ) -> Result<(), StoreError> {
        let now = Utc::now();
        let later = |d: Duration| {
            chrono::Duration::from_std(d)
                .ok()
                .and_then(|d| now.checked_add_signed(d))
                .unwrap_or(DateTime::<Utc>::MAX_UTC)
        };
        let mut inner = self.lock();
        let counters = inner.attempts.entry(self.table.to_string()).or_default();
        for f in failures {
            let c = counters.entry(f.key.to_owned()).or_insert(Counter {
                failures: 0,
                window_ends: now,
                locked_until: None,
            });
            if c.window_ends <= now {
                *c = Counter {
                    failures: 0,
                    window_ends: later(window),
                    locked_until: c.locked_until.filter(|u| *u > now),
                };
            }
            c.failures = c.failures.saturating_add(1);
            if c.failures >= f.max_failures {
                c.locked_until = Some(later(lockout));
            }
        }
        inner.keep_events(&self.table, events);
        Ok(())
    }

    async fn clear_attempts(&self, keys: &[String]) -> Result<(), StoreError> {
        let mut inner = self.lock();
        if let Some(counters) = inner.attempts.get_mut(&*self.table) {
            for k in keys {
                counters.remove(k);
            }
        }
        Ok(())
    }

    async fn delete_expired_attempts(&self, limit: usize) -> Result<u64, StoreError> {
        let now = Utc::now();
        let mut inner = self.lock();
        let Some(counters) = inner.attempts.get_mut(&*self.table) else {
            return Ok(0);
        };
        let doomed: Vec<String> = counters
            .iter()
            .filter(|(_, c)| c.expires_at() <= now)
            .map(|(k, _)| k.clone())
            .take(limit)
            .collect();
        for k in &doomed {
            counters.remove(k);
        }
        Ok(doomed.len() as u64)
    }
}

const REVOCATION: &str = Purpose::REVOCATION.as_str();
const SESSION: &str = Purpose::SESSION.as_str();
const REFRESH_USED: &str = Purpose::REFRESH_USED.as_str();

impl<U: UserResource> UserStore<U> for MemoryStore {
    async fn get_user(&self, key: &U::PrimaryKey) -> Result<Option<U>, StoreError> {
        let inner = self.lock();
        Ok(inner
            .users::<U>()?
            .and_then(|t| t.by_key.get(&key.to_subject_value()))
            .cloned())
    }

    async fn get_user_by_identity(&self, identity: &str) -> Result<Option<U>, StoreError> {
        let inner = self.lock();
        Ok(inner.users::<U>()?.and_then(|t| {
            t.key_by_identity
                .get(identity)
                .and_then(|key| t.by_key.get(key))
                .cloned()
        }))
    }

    async fn insert_user(&self, user: &U) -> Result<(), InsertUserError> {
        let mut inner = self.lock();
        let table = inner.users_mut::<U>()?;
        let key = table.check_insert(user)?;
        table.insert(key, user);
        Ok(())
    }

    async fn insert_user_with_tokens(
        &self,
        user: &U,
        new: &[NewTokenRow],
        events: &[AuditEvent],
    ) -> Result<(), InsertUserError> {
        let mut inner = self.lock();
        let key = inner.users_mut::<U>()?.check_insert(user)?;
        // Both writes are checked before either is made: all or nothing.
        let rows = inner.tokens.entry(self.table.to_string()).or_default();
        insert_fresh(rows, new)?;
        inner.users_mut::<U>()?.insert(key, user);
        inner.keep_events(&self.table, events);
        Ok(())
    }

    async fn update_user(&self, user: &U) -> Result<bool, StoreError> {
        let key = user.primary_key().to_subject_value();
        let mut inner = self.lock();
        let table = inner.users_mut::<U>()?;
        if table.check_update(&key, user)?.is_none() {
            return Ok(false);
        }
        table.replace(key, user.clone());
        Ok(true)
    }

    async fn apply_redeemed(
        &self,
        key: &U::PrimaryKey,
        fields: &serde_json::Map<String, serde_json::Value>,
        redeem: &Redeem<'_>,
        events: &[AuditEvent],
    ) -> Result<bool, StoreError> {
        let key = key.to_subject_value();
        let mut inner = self.lock();
        let table = inner.users_mut::<U>()?;
        let Some(old) = table.by_key.get(&key) else {
            return Ok(false);
        };
        let updated = crate::user::with_fields(old, fields)
            .map_err(|e| StoreError::new("the changes do not fit the user", e))?;
        // Both writes are checked before either is made.
        table.check_update(&key, &updated)?;
        let rows = inner.tokens.entry(self.table.to_string()).or_default();
        if !spend(rows, redeem, Utc::now()) {
            return Ok(false);
        }
        inner.users_mut::<U>()?.replace(key, updated);
        inner.keep_events(&self.table, events);
        Ok(true)
    }
}

impl<U: PasswordUser> PasswordStore<U> for MemoryStore {
    async fn change_password(
        &self,
        change: &PasswordChange<'_, U::PrimaryKey>,
    ) -> Result<bool, StoreError> {
        let key = change.key.to_subject_value();
        let mut inner = self.lock();
        let table = inner.users_mut::<U>()?;
        let Some(user) = table.by_key.get_mut(&key) else {
            return Ok(false);
        };
        if user.hashed_password() != change.current_hash {
            return Ok(false);
        }
        let rows = inner.tokens.entry(self.table.to_string()).or_default();
        if change.new_rows.iter().any(|t| rows.contains_key(&t.jti)) {
            return Err(StoreError::msg("a token row with this jti already exists"));
        }
        if let Some(redeem) = &change.redeem
            && !spend(rows, redeem, Utc::now())
        {
            return Ok(false);
        }
        if let Some(revoke) = &change.revoke {
            revoke_all(rows, revoke);
        }
        insert_fresh(rows, change.new_rows)?;
        if let Some(revoke) = change.revoke.filter(|r| r.api_keys) {
            revoke_keys(&mut inner, &self.table, revoke.subject);
        }
        if let Some(user) = inner.users_mut::<U>()?.by_key.get_mut(&key) {
            user.set_hashed_password(change.new_hash.to_owned());
        }
        inner.keep_events(&self.table, change.events);
        Ok(true)
    }
}
