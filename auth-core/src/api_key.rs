//! API keys, the format and the stored facts: long-lived credentials for
//! scripts and services, stored only as a hash, recognisable by secret
//! scanners, scoped.
//!
//! A key reads `<prefix>_<id>_<secret>_<check>`:
//! - `prefix`: the DSL's `prefix` (2 to 16 of `a`–`z`, `0`–`9`), so a
//!   scanner, a log reader or a support person knows whose key it is;
//! - `id`: 16 random bytes in base62 (22 characters), the stored row's
//!   primary key: a lookup reads one row by it;
//! - `secret`: 24 random bytes (192 bits) in base62 (33 characters), stored
//!   as its SHA-256 only (192 random bits need no slow hash: nothing can be
//!   guessed from the hash);
//! - `check`: the CRC32 of `<prefix>_<id>_<secret>` in base62 (6
//!   characters), as GitHub's tokens carry: a scanner can tell a real key
//!   from a random string offline, and a typo or a truncated copy is
//!   refused before any lookup.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::config::Lifetime;
use crate::error::{Error, Result};

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// Random bytes of a key's id.
const ID_BYTES: usize = 16;
/// Random bytes of a key's secret (192 bits).
const SECRET_BYTES: usize = 24;
/// Base62 characters of the id (`ceil(128 / log2 62)`).
pub const ID_LEN: usize = 22;
/// Base62 characters of the secret (`ceil(192 / log2 62)`).
pub const SECRET_LEN: usize = 33;
/// Base62 characters of the checksum (a `u32`).
pub const CHECK_LEN: usize = 6;
/// The most scopes one key may carry, and the longest scope name: a
/// request's input never grows a row without bound.
pub const MAX_SCOPES: usize = 64;
/// The longest scope name (bytes).
pub const MAX_SCOPE_LEN: usize = auth_dsl::MAX_API_KEY_SCOPE_LEN;
/// The longest key name (characters).
pub const MAX_NAME_LEN: usize = 100;

/// The settings of the `api_key` strategy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiKeyConfig {
    /// What every key starts with (before its first `_`).
    pub prefix: Cow<'static, str>,
    /// The scopes a key may be given; empty: keys carry no scopes.
    pub scopes: Cow<'static, [&'static str]>,
    /// A key's lifetime when its creator names none (default 90 days).
    pub default_lifetime: Lifetime,
    /// The most live keys one user may hold (default 50).
    pub max_per_user: usize,
    /// How often a key's `last_used_at` is written at most (default one
    /// hour): authentication never writes; the uses seen are written in
    /// batches off the request path.
    pub last_used_interval: std::time::Duration,
    /// Whether ending every sign-in of a user (log out everywhere, a
    /// password change, a password reset) revokes their keys too, in the
    /// same write (default: no, a key outlives them).
    pub revoke_with_sign_ins: bool,
}

impl ApiKeyConfig {
    /// The defaults with `prefix` and no scopes.
    pub const fn new(prefix: &'static str) -> Self {
        Self {
            prefix: Cow::Borrowed(prefix),
            scopes: Cow::Borrowed(&[]),
            default_lifetime: Lifetime::from_secs(auth_dsl::defaults::API_KEY_LIFETIME),
            max_per_user: auth_dsl::defaults::API_KEYS_PER_USER,
            last_used_interval: std::time::Duration::from_secs(3_600),
            revoke_with_sign_ins: false,
        }
    }
}

/// Whether `prefix` is one the DSL accepts (the rule is `auth-dsl`'s, the
/// macro's too).
pub use auth_dsl::check_api_key_prefix as check_prefix;

/// The start-up check of hand-written settings (the DSL checks the same at
/// compile time): a valid prefix, valid scopes without repeats, a cap of at
/// least one key.
pub(crate) fn check_config(config: &ApiKeyConfig) -> Result<()> {
    let bad = |m: String| Err(Error::Config(format!("api_key: {m}")));
    if let Err(m) = check_prefix(&config.prefix) {
        return bad(m);
    }
    for (i, scope) in config.scopes.iter().enumerate() {
        if let Err(m) = auth_dsl::check_api_key_scope(scope) {
            return bad(m);
        }
        if config.scopes[..i].contains(scope) {
            return bad(format!("scope `{scope}` is listed twice"));
        }
    }
    if config.max_per_user == 0 {
        return bad("max_per_user must be at least 1".into());
    }
    Ok(())
}

/// A key just made: the text to hand over once, and the row to store.
pub(crate) struct MadeKey {
    pub(crate) text: String,
    pub(crate) id: String,
    pub(crate) secret_hash: String,
}

/// Makes a new key with `prefix` from fresh random bytes.
pub(crate) fn make(prefix: &str) -> Result<MadeKey> {
    let mut id = [0u8; ID_BYTES];
    let mut secret = [0u8; SECRET_BYTES];
    getrandom::fill(&mut id).map_err(|e| Error::Config(format!("no randomness: {e}")))?;
    getrandom::fill(&mut secret).map_err(|e| Error::Config(format!("no randomness: {e}")))?;
    let (id, secret) = (base62(&id, ID_LEN), base62(&secret, SECRET_LEN));
    let body = format!("{prefix}_{id}_{secret}");
    let check = base62(&crc32fast::hash(body.as_bytes()).to_be_bytes(), CHECK_LEN);
    Ok(MadeKey {
        text: format!("{body}_{check}"),
        secret_hash: secret_hash(&secret),
        id,
    })
}

/// A presented key, split and checked offline: its prefix, id and secret
/// are well formed and its checksum matches. Nothing has been looked up.
#[derive(Clone, PartialEq, Eq)]
pub struct PresentedKey<'a> {
    /// The key's prefix.
    pub prefix: &'a str,
    /// The key's id (the stored row's primary key).
    pub id: &'a str,
    secret: &'a str,
}

impl fmt::Debug for PresentedKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PresentedKey")
            .field("prefix", &self.prefix)
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl<'a> PresentedKey<'a> {
    /// Splits and checks `key`: [`Error::InvalidApiKey`] unless it has four
    /// parts of the right lengths and alphabet and a matching checksum.
    pub fn parse(key: &'a str) -> Result<Self> {
        let bad = || Error::InvalidApiKey;
        let mut parts = key.rsplitn(4, '_');
        let (check, secret, id, prefix) = (
            parts.next().ok_or_else(bad)?,
            parts.next().ok_or_else(bad)?,
            parts.next().ok_or_else(bad)?,
            parts.next().ok_or_else(bad)?,
        );
        let is_base62 =
            |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_alphanumeric());
        if check_prefix(prefix).is_err()
            || !is_base62(id, ID_LEN)
            || !is_base62(secret, SECRET_LEN)
            || !is_base62(check, CHECK_LEN)
        {
            return Err(bad());
        }
        let body = &key[..key.len() - CHECK_LEN - 1];
        let expected = base62(&crc32fast::hash(body.as_bytes()).to_be_bytes(), CHECK_LEN);
        if expected != check {
            return Err(bad());
        }
        Ok(Self { prefix, id, secret })
    }

    /// Whether the secret hashes to `stored` (hex SHA-256), compared in
    /// constant time.
    pub fn secret_matches(&self, stored: &str) -> bool {
        constant_time_eq(secret_hash(self.secret).as_bytes(), stored.as_bytes())
    }
}

/// Whether `text` looks like an API key (four `_`-separated parts, no `.`):
/// how the HTTP layer tells a key from a JWT in `Authorization: Bearer`.
pub fn looks_like_api_key(text: &str) -> bool {
    !text.contains('.') && text.matches('_').count() == 3
}

/// The hex SHA-256 of a secret.
fn secret_hash(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    let mut hex = String::with_capacity(64);
    for b in digest {
        hex.push_str(&format!("{b:02x}"));
    }
    hex
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `bytes` as a big-endian number in base62, left-padded with `0` to `width`.
fn base62(bytes: &[u8], width: usize) -> String {
    let mut digits = Vec::with_capacity(width);
    let mut number: Vec<u8> = bytes.to_vec();
    while number.iter().any(|&b| b != 0) {
        let mut rem = 0u32;
        for byte in &mut number {
            let acc = (rem << 8) | u32::from(*byte);
            *byte = (acc / 62) as u8;
            rem = acc % 62;
        }
        digits.push(BASE62[rem as usize]);
    }
    while digits.len() < width {
        digits.push(b'0');
    }
    digits.reverse();
    String::from_utf8(digits).unwrap_or_default()
}

/// A stored key, as the store keeps it (never the secret).
#[derive(Clone, Debug, PartialEq)]
pub struct ApiKeyRow {
    /// The key's id.
    pub id: String,
    /// Whose key it is (`user?id=…`).
    pub subject: String,
    /// What its creator called it.
    pub name: String,
    /// What it may do.
    pub scopes: Vec<String>,
    /// The hex SHA-256 of its secret.
    pub secret_hash: String,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
    /// When it was last used, as last written (at most once per interval).
    pub last_used_at: Option<DateTime<Utc>>,
    /// Whether it was revoked.
    pub revoked: bool,
}

/// A key to store.
#[derive(Clone, Debug, PartialEq)]
pub struct NewApiKey {
    /// The key's id.
    pub id: String,
    /// Whose key it is.
    pub subject: String,
    /// Its user's primary key as text (`SubjectKey::to_subject_value`), so
    /// a SQL store reads the key and its user in one statement.
    pub user_key: String,
    /// Its name.
    pub name: String,
    /// Its scopes.
    pub scopes: Vec<String>,
    /// The hex SHA-256 of its secret.
    pub secret_hash: String,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
}

/// A key as its owner sees it: everything but the secret and its hash.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ApiKeyInfo {
    /// The key's id (shown in lists; a key is revoked by it).
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its scopes.
    pub scopes: Vec<String>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
    /// When it was last used (written at most once per interval).
    pub last_used_at: Option<DateTime<Utc>>,
}

impl From<ApiKeyRow> for ApiKeyInfo {
    fn from(row: ApiKeyRow) -> Self {
        Self {
            id: row.id,
            name: row.name,
            scopes: row.scopes,
            created_at: row.created_at,
            expires_at: row.expires_at,
            last_used_at: row.last_used_at,
        }
    }
}

/// A key just created: the whole key, shown once, and what lists show.
#[derive(Clone, PartialEq, Eq)]
pub struct CreatedApiKey {
    /// The key. Hand it to its owner once; it is not stored and cannot be
    /// shown again.
    pub key: String,
    /// The key as lists show it.
    pub info: ApiKeyInfo,
}

impl fmt::Debug for CreatedApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreatedApiKey")
            .field("key", &"<redacted>")
            .field("info", &self.info)
            .finish()
    }
}

/// Uses seen and not yet written, and when each key was last written.
#[derive(Debug, Default)]
pub(crate) struct KeyUses {
    state: Mutex<UsesState>,
}

#[derive(Debug, Default)]
struct UsesState {
    pending: HashMap<String, DateTime<Utc>>,
    written: HashMap<String, DateTime<Utc>>,
    flusher: bool,
}

impl KeyUses {
    /// Remembers a use of `id` at `now` unless one was written or is
    /// pending within `interval`; whether the flusher must be started.
    pub(crate) fn note(
        &self,
        id: &str,
        stored: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
        interval: Duration,
    ) -> bool {
        let interval = chrono::Duration::from_std(interval).unwrap_or(chrono::Duration::MAX);
        let fresh = |at: Option<&DateTime<Utc>>| at.is_some_and(|at| now - *at < interval);
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if fresh(stored.as_ref()) || fresh(state.written.get(id)) || state.pending.contains_key(id)
        {
            return false;
        }
        state.pending.insert(id.to_owned(), now);
        let start = !state.flusher;
        state.flusher = true;
        start
    }

    /// Takes the pending uses, forgetting writes older than `interval`.
    pub(crate) fn take(&self, interval: Duration) -> Vec<(String, DateTime<Utc>)> {
        let now = Utc::now();
        let interval = chrono::Duration::from_std(interval).unwrap_or(chrono::Duration::MAX);
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let taken: Vec<_> = state.pending.drain().collect();
        state.written.retain(|_, at| now - *at < interval);
        for (id, at) in &taken {
            state.written.insert(id.clone(), *at);
        }
        taken
    }

    /// Puts back uses a failed write did not record.
    pub(crate) fn put_back(&self, uses: Vec<(String, DateTime<Utc>)>) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        for (id, at) in uses {
            state.written.remove(&id);
            state.pending.entry(id).or_insert(at);
        }
    }

    pub(crate) fn pending(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pending
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_made_key_parses_and_its_secret_matches_only_its_hash() {
        let made = make("myapp").unwrap();
        let key = PresentedKey::parse(&made.text).unwrap();
        assert_eq!((key.prefix, key.id), ("myapp", made.id.as_str()));
        assert!(key.secret_matches(&made.secret_hash));
        let other = make("myapp").unwrap();
        assert!(!key.secret_matches(&other.secret_hash));
        assert_eq!(
            made.text.len(),
            5 + 1 + ID_LEN + 1 + SECRET_LEN + 1 + CHECK_LEN
        );
        assert!(looks_like_api_key(&made.text));
        assert!(!format!("{:?}", key).contains(key.secret));
    }

    #[test]
    fn a_typo_or_a_cut_is_refused_before_any_lookup() {
        let made = make("myapp").unwrap();
        let text = made.text;
        // One character changed anywhere: the checksum disagrees.
        for i in [0, 6, 20, 40, text.len() - 1] {
            let mut bytes = text.clone().into_bytes();
            bytes[i] = if bytes[i] == b'a' { b'b' } else { b'a' };
            let typo = String::from_utf8(bytes).unwrap();
            assert!(PresentedKey::parse(&typo).is_err(), "{typo}");
        }
        for bad in [
            &text[..text.len() - 1],
            "",
            "myapp",
            "myapp___",
            "eyJhbGciOiJIUzI1NiJ9.e30.sig",
            &format!("{text}_x"),
            &text.replace("myapp", "MyApp"),
        ] {
            assert!(PresentedKey::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn base62_is_fixed_width_and_ordered() {
        assert_eq!(base62(&[0; 4], 6), "000000");
        assert_eq!(base62(&[0, 0, 0, 61], 6), "00000z");
        assert_eq!(base62(&[0, 0, 0, 62], 6), "000010");
        assert_eq!(base62(&u32::MAX.to_be_bytes(), 6), "4gfFC3");
        assert_eq!(base62(&[0xff; ID_BYTES], ID_LEN).len(), ID_LEN);
        assert_eq!(base62(&[0xff; SECRET_BYTES], SECRET_LEN).len(), SECRET_LEN);
    }

    #[test]
    fn prefixes_are_checked() {
        assert!(check_prefix("myapp").is_ok());
        assert!(check_prefix("ab").is_ok());
        for bad in [
            "a",
            "MyApp",
            "my_app",
            "9lives",
            "abcdefghijklmnopq",
            "my-app",
            "",
        ] {
            assert!(check_prefix(bad).is_err(), "{bad}");
        }
    }
}
