//! The revocation and user cache (feature `cache`): what [`Auth::authenticate`]
//! reads from the store (the token's row, its session's row, the user), and
//! what [`Auth::authenticate_api_key`] reads (the key's row, its user), kept
//! in process so a repeated authentication touches no database.
//!
//! Correctness, not speed, decides its shape:
//! - an answer is served only while the node hears every invalidation: a
//!   store-specific listener (for PostgreSQL, `PgStore::listen_for_invalidations`)
//!   calls [`AuthCache::listening`] once it hears the store's writes and
//!   [`AuthCache::not_listening`] the moment it may have missed one; in
//!   between the cache is flushed and bypassed;
//! - every write that can change an answer (revocation, session end, log out
//!   everywhere, password change, any user write, any write to an API key)
//!   is published by the store
//!   in the same transaction, and the listener evicts the subject it names
//!   ([`AuthCache::invalidate_subject`], [`AuthCache::invalidate_key`]);
//! - an answer read from the store while an invalidation arrived is not kept
//!   (the read may predate the write);
//! - every entry expires after [`CacheConfig::ttl`] whatever happens (the
//!   safety net for a listener that is silently cut off).
//!
//! The checks themselves (signature, expiry, revocation, presence, session,
//! credential) still run on every request: the cache holds rows and the
//! user, never a verdict.
//!
//! [`Auth::authenticate`]: crate::Auth::authenticate
//! [`Auth::authenticate_api_key`]: crate::Auth::authenticate_api_key

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use moka::notification::RemovalCause;

use crate::api_key::ApiKeyRow;
use crate::store::Rows;
use crate::subject::{Subject, SubjectKey, canonical_key};
use crate::user::UserResource;

/// How many token answers one subject keeps (the newest win).
const TOKENS_PER_SUBJECT: usize = 16;

/// How many API-key rows one subject keeps (the newest win).
const KEYS_PER_SUBJECT: usize = 16;

/// The cache's bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheConfig {
    /// Subjects (users) kept at most; each holds up to 16 token answers.
    pub capacity: u64,
    /// How long an entry lives at most, invalidations or not.
    pub ttl: Duration,
}

impl Default for CacheConfig {
    /// 100 000 subjects, 60 seconds.
    fn default() -> Self {
        Self {
            capacity: 100_000,
            ttl: Duration::from_secs(60),
        }
    }
}

/// What the cache has done since it was built.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Authentications answered from the cache.
    pub hits: u64,
    /// Authentications that asked the store while the cache was in use.
    pub misses: u64,
    /// Authentications that asked the store because the cache was bypassed
    /// (not listening).
    pub bypassed: u64,
    /// Subjects dropped for capacity or age.
    pub evictions: u64,
    /// Invalidations received (subjects and keys, flushes included).
    pub invalidations: u64,
    /// Times the listener stopped listening (each began a bypass).
    pub outages: u64,
    /// Total time spent not listening (bypassing), including now.
    pub bypass_time: Duration,
}

struct SubjectEntry<U> {
    user: Option<U>,
    /// By `jti`: the token's `sid` (fixed by its claims) and its rows.
    tokens: Mutex<HashMap<String, (Option<String>, Rows)>>,
    /// By key id: the API key's row.
    keys: Mutex<HashMap<String, ApiKeyRow>>,
}

impl<U> SubjectEntry<U> {
    fn new(user: Option<U>) -> Arc<Self> {
        Arc::new(Self {
            user,
            tokens: Mutex::new(HashMap::new()),
            keys: Mutex::new(HashMap::new()),
        })
    }
}

struct Shared {
    /// Bumped by every invalidation and flush: an answer read across a bump
    /// is not kept.
    epoch: AtomicU64,
    listening: AtomicBool,
    bypass_since: Mutex<Option<Instant>>,
    bypass_total: Mutex<Duration>,
    hits: AtomicU64,
    misses: AtomicU64,
    bypassed: AtomicU64,
    evictions: Arc<AtomicU64>,
    invalidations: AtomicU64,
    outages: AtomicU64,
}

/// The cache of one user resource's authentication answers, shared by
/// clones. Built not listening: until a listener calls
/// [`listening`](Self::listening), every authentication asks the store.
pub struct AuthCache<U> {
    subjects: moka::sync::Cache<String, Arc<SubjectEntry<U>>>,
    /// An API key's id → its owner's subject key, where its row is kept
    /// (an entry outliving its subject's is only a miss).
    key_owners: moka::sync::Cache<String, String>,
    shared: Arc<Shared>,
}

impl<U: UserResource> Clone for AuthCache<U> {
    fn clone(&self) -> Self {
        Self {
            subjects: self.subjects.clone(),
            key_owners: self.key_owners.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl<U: UserResource> std::fmt::Debug for AuthCache<U> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthCache")
            .field("subjects", &self.subjects.entry_count())
            .field("listening", &self.is_listening())
            .finish()
    }
}

/// What a miss remembers until its answer is stored.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ticket {
    epoch: u64,
}

impl<U: UserResource> AuthCache<U> {
    /// A cache with these bounds.
    pub fn new(config: CacheConfig) -> Self {
        let evictions = Arc::new(AtomicU64::new(0));
        let counted = evictions.clone();
        let subjects = moka::sync::Cache::builder()
            .max_capacity(config.capacity)
            .time_to_live(config.ttl)
            .eviction_listener(move |_k, _v, cause| {
                if matches!(cause, RemovalCause::Size | RemovalCause::Expired) {
                    counted.fetch_add(1, Ordering::Relaxed);
                }
            })
            .build();
        let key_owners = moka::sync::Cache::builder()
            .max_capacity(config.capacity)
            .time_to_live(config.ttl)
            .build();
        Self {
            subjects,
            key_owners,
            shared: Arc::new(Shared {
                epoch: AtomicU64::new(0),
                listening: AtomicBool::new(false),
                bypass_since: Mutex::new(Some(Instant::now())),
                bypass_total: Mutex::new(Duration::ZERO),
                hits: AtomicU64::new(0),
                misses: AtomicU64::new(0),
                bypassed: AtomicU64::new(0),
                evictions,
                invalidations: AtomicU64::new(0),
                outages: AtomicU64::new(0),
            }),
        }
    }

    /// Whether answers are being served (a listener hears the store).
    pub fn is_listening(&self) -> bool {
        self.shared.listening.load(Ordering::SeqCst)
    }

    /// The listener hears every write from now on: flush whatever was kept
    /// before (writes made while nobody listened were not heard), then serve.
    pub fn listening(&self) {
        self.flush();
        if !self.shared.listening.swap(true, Ordering::SeqCst) {
            let since = lock(&self.shared.bypass_since).take();
            if let Some(since) = since {
                *lock(&self.shared.bypass_total) += since.elapsed();
            }
            tracing::info!("auth cache: listening, serving answers");
        }
    }

    /// The listener may have missed a write (its connection is gone): stop
    /// serving and flush, until [`listening`](Self::listening) again.
    pub fn not_listening(&self) {
        if self.shared.listening.swap(false, Ordering::SeqCst) {
            *lock(&self.shared.bypass_since) = Some(Instant::now());
            self.shared.outages.fetch_add(1, Ordering::Relaxed);
            tracing::warn!("auth cache: not listening, bypassed until the listener is back");
        }
        self.flush();
    }

    /// Drops every entry.
    pub fn flush(&self) {
        self.shared.epoch.fetch_add(1, Ordering::SeqCst);
        self.shared.invalidations.fetch_add(1, Ordering::Relaxed);
        self.subjects.invalidate_all();
        self.key_owners.invalidate_all();
    }

    /// A write touched rows of this subject (`user?id=...`): drop its
    /// entries. Subjects of other resources are ignored.
    pub fn invalidate_subject(&self, subject: &str) {
        match canonical_key::<U::PrimaryKey>(subject, U::SUBJECT_NAME, U::PRIMARY_KEY_FIELD) {
            Ok(key) => self.invalidate_key(&key.to_subject_value()),
            // Ours but unreadable: whatever it names, drop everything.
            Err(_) if Subject::parse(subject).is_ok_and(|s| s.name() == U::SUBJECT_NAME) => {
                self.flush();
            }
            // Another resource's subject: nothing of ours is keyed by it.
            Err(_) => {}
        }
    }

    /// A write touched the user whose primary key reads `key` (as
    /// [`SubjectKey::to_subject_value`] writes it): drop its entries.
    pub fn invalidate_key(&self, key: &str) {
        self.shared.epoch.fetch_add(1, Ordering::SeqCst);
        self.shared.invalidations.fetch_add(1, Ordering::Relaxed);
        self.subjects.invalidate(key);
    }

    /// What the cache has done.
    pub fn stats(&self) -> CacheStats {
        // Evictions are counted when the cache's maintenance runs.
        self.subjects.run_pending_tasks();
        let shared = &self.shared;
        let mut bypass_time = *lock(&shared.bypass_total);
        if let Some(since) = *lock(&shared.bypass_since) {
            bypass_time += since.elapsed();
        }
        CacheStats {
            hits: shared.hits.load(Ordering::Relaxed),
            misses: shared.misses.load(Ordering::Relaxed),
            bypassed: shared.bypassed.load(Ordering::Relaxed),
            evictions: shared.evictions.load(Ordering::Relaxed),
            invalidations: shared.invalidations.load(Ordering::Relaxed),
            outages: shared.outages.load(Ordering::Relaxed),
            bypass_time,
        }
    }

    /// Subjects held now (after pending maintenance).
    pub fn len(&self) -> u64 {
        self.subjects.run_pending_tasks();
        self.subjects.entry_count()
    }

    /// Whether no subject is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The kept answer for this token, or a ticket to store the store's.
    pub(crate) fn get(
        &self,
        key: &str,
        jti: &str,
        sid: Option<&str>,
    ) -> Result<(Rows, Option<U>), Option<Ticket>> {
        self.answer(|| {
            let entry = self.subjects.get(key)?;
            let rows = lock(&entry.tokens)
                .get(jti)
                .filter(|(kept_sid, _)| kept_sid.as_deref() == sid)
                .map(|(_, rows)| rows.clone())?;
            Some((rows, entry.user.clone()))
        })
    }

    /// An answer `find` reads from the kept entries (a hit), or a ticket to
    /// keep the store's (a miss), or nothing while not listening (bypassed).
    fn answer<T>(&self, find: impl FnOnce() -> Option<T>) -> Result<T, Option<Ticket>> {
        // Read the epoch before anything: an invalidation after this point
        // makes `keep` drop what it stores.
        let epoch = self.shared.epoch.load(Ordering::SeqCst);
        if !self.is_listening() {
            self.shared.bypassed.fetch_add(1, Ordering::Relaxed);
            return Err(None);
        }
        match find() {
            Some(found) => {
                self.shared.hits.fetch_add(1, Ordering::Relaxed);
                Ok(found)
            }
            None => {
                self.shared.misses.fetch_add(1, Ordering::Relaxed);
                Err(Some(Ticket { epoch }))
            }
        }
    }

    /// Puts a store's answer into the entry of `key` with `insert`, unless
    /// an invalidation arrived since the ticket (the answer may predate the
    /// write it announced).
    fn keep(
        &self,
        ticket: Ticket,
        key: &str,
        user: impl FnOnce() -> Option<U>,
        insert: impl FnOnce(&SubjectEntry<U>),
    ) {
        if self.shared.epoch.load(Ordering::SeqCst) != ticket.epoch {
            return;
        }
        let entry = self
            .subjects
            .get_with(key.to_owned(), || SubjectEntry::new(user()));
        insert(&entry);
        // An invalidation between the check above and the insert: its
        // eviction may have run before the insert, so drop the entry now.
        if self.shared.epoch.load(Ordering::SeqCst) != ticket.epoch {
            self.subjects.invalidate(key);
        }
    }

    /// Keeps the store's answer, unless an invalidation arrived since the
    /// ticket (the answer may predate the write it announced).
    pub(crate) fn put(
        &self,
        ticket: Ticket,
        key: &str,
        jti: &str,
        sid: Option<&str>,
        rows: &Rows,
        user: &Option<U>,
    ) {
        self.keep(
            ticket,
            key,
            || user.clone(),
            |entry| {
                let mut tokens = lock(&entry.tokens);
                if tokens.len() >= TOKENS_PER_SUBJECT {
                    tokens.clear();
                }
                tokens.insert(jti.to_owned(), (sid.map(str::to_owned), rows.clone()));
            },
        );
    }
}

impl<U: UserResource> AuthCache<U> {
    /// The kept row of this API key and its user, or a ticket to store the
    /// store's.
    pub(crate) fn get_key(&self, id: &str) -> Result<(ApiKeyRow, U), Option<Ticket>> {
        self.answer(|| {
            let entry = self.subjects.get(&self.key_owners.get(id)?)?;
            let row = lock(&entry.keys).get(id).cloned()?;
            Some((row, entry.user.clone()?))
        })
    }

    /// Keeps an API key's row under its user's entry (evicted with the
    /// user's subject: any write to the key, its user's tokens or the
    /// user), unless an invalidation arrived since the ticket.
    pub(crate) fn put_key(&self, ticket: Ticket, row: &ApiKeyRow, user: &U) {
        let key = user.primary_key().to_subject_value();
        self.keep(
            ticket,
            &key,
            || Some(user.clone()),
            |entry| {
                let mut keys = lock(&entry.keys);
                if keys.len() >= KEYS_PER_SUBJECT {
                    keys.clear();
                }
                keys.insert(row.id.clone(), row.clone());
                self.key_owners.insert(row.id.clone(), key.clone());
            },
        );
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_user::User as U;

    fn listening() -> AuthCache<U> {
        let cache = AuthCache::new(CacheConfig::default());
        cache.listening();
        cache
    }

    fn miss(cache: &AuthCache<U>) -> Ticket {
        match cache.get("7", "j", None) {
            Err(Some(t)) => t,
            other => panic!("expected a miss, got {other:?}"),
        }
    }

    #[test]
    fn nothing_is_served_before_listening_or_after_losing_it() {
        let cache = AuthCache::<U>::new(CacheConfig::default());
        assert!(matches!(cache.get("7", "j", None), Err(None)));
        cache.listening();
        let t = miss(&cache);
        cache.put(t, "7", "j", None, &Rows::default(), &Some(U { id: 7 }));
        assert!(cache.get("7", "j", None).is_ok());
        cache.not_listening();
        assert!(matches!(cache.get("7", "j", None), Err(None)));
        cache.listening();
        assert!(
            matches!(cache.get("7", "j", None), Err(Some(_))),
            "flushed on listening again"
        );
        assert_eq!(cache.stats().outages, 1);
    }

    #[test]
    fn an_answer_read_across_an_invalidation_is_not_kept() {
        let cache = listening();
        let t = miss(&cache);
        cache.invalidate_key("someone-else");
        cache.put(t, "7", "j", None, &Rows::default(), &None);
        assert!(cache.get("7", "j", None).is_err());
    }

    fn key_row(id: &str) -> ApiKeyRow {
        ApiKeyRow {
            id: id.into(),
            subject: "user?id=7".into(),
            name: "ci".into(),
            scopes: vec![],
            secret_hash: String::new(),
            created_at: chrono::Utc::now(),
            expires_at: chrono::Utc::now(),
            last_used_at: None,
            revoked: false,
        }
    }

    #[test]
    fn api_key_rows_are_kept_under_their_user_and_evicted_with_it() {
        let cache = listening();
        let Err(Some(t)) = cache.get_key("k1") else {
            panic!("expected a miss")
        };
        cache.put_key(t, &key_row("k1"), &U { id: 7 });
        let (row, user) = cache.get_key("k1").unwrap();
        assert_eq!((row.id.as_str(), user.id), ("k1", 7));
        cache.invalidate_subject("user?id=7");
        assert!(cache.get_key("k1").is_err());
        // Read across an invalidation: not kept.
        let Err(Some(t)) = cache.get_key("k1") else {
            panic!("expected a miss")
        };
        cache.invalidate_key("8");
        cache.put_key(t, &key_row("k1"), &U { id: 7 });
        assert!(cache.get_key("k1").is_err());
    }

    #[test]
    fn subjects_are_evicted_by_subject_or_key_and_others_ignored() {
        let cache = listening();
        let t = miss(&cache);
        cache.put(t, "7", "j", None, &Rows::default(), &None);
        cache.invalidate_subject("member?id=7");
        assert!(
            cache.get("7", "j", None).is_ok(),
            "another resource's subject"
        );
        cache.invalidate_subject("user?id=7");
        assert!(cache.get("7", "j", None).is_err());
        let t = miss(&cache);
        cache.put(t, "7", "j", None, &Rows::default(), &None);
        cache.invalidate_key("7");
        assert!(cache.get("7", "j", None).is_err());
    }
}
