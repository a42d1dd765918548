//! Shared fixtures for the behaviour tests: a user resource, settings, token forging,
//! and the storage conformance suite every backend runs.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

pub mod bench;
pub mod browser;
pub mod conformance;
pub mod hardening;
pub mod pg;
pub mod proxy;
pub mod sessions;
pub mod special;
pub mod sqlite;
pub mod user_actions;

use auth_core::{
    Algorithm, Auth, Claims, ClaimsContext, ExtraClaims, Secret, Settings, SigningSecret,
    TokenConfig, TokenResourceConfig, UserResource,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const SECRET: &str = "test-secret-that-is-long-enough-for-hs512-0123456789";

/// The user of SPEC 3.2, implemented by hand (the derive is tested elsewhere).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub id: uuid::Uuid,
    pub email: String,
    pub hashed_password: String,
    pub role: String,
}

impl UserResource for User {
    type PrimaryKey = uuid::Uuid;
    const SUBJECT_NAME: &'static str = "user";
    const PRIMARY_KEY_FIELD: &'static str = "id";
    const IDENTITY_FIELD: Option<&'static str> = Some("email");
    fn primary_key(&self) -> uuid::Uuid {
        self.id
    }
    fn identity(&self) -> Option<&str> {
        Some(&self.email)
    }
}

impl User {
    pub fn new(email: &str) -> Self {
        Self {
            id: uuid::Uuid::new_v4(),
            email: email.into(),
            hashed_password: String::new(),
            role: "member".into(),
        }
    }
}

pub fn role_claims(user: &User, _: &ClaimsContext) -> ExtraClaims {
    let mut m = ExtraClaims::new();
    m.insert("role".into(), user.role.clone().into());
    m
}

/// Token settings: HS256, the test secret; deny-list or store-all + allow-list.
pub fn settings(allow_list: bool) -> Settings<User> {
    let mut tokens = TokenConfig::new(SigningSecret::Literal(Secret::from(SECRET)));
    tokens.store_all_tokens = allow_list;
    tokens.require_token_presence_for_authentication = allow_list;
    let mut s = Settings::new(tokens, TokenResourceConfig::default());
    s.extra_claims = Some(role_claims);
    s
}

pub fn auth<S: auth_core::TokenStore>(allow_list: bool, store: S) -> Auth<User, S> {
    Auth::from_settings(settings(allow_list), store).unwrap()
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Valid claims for `user` as the default configuration would mint them.
pub fn claims_for(user: &User) -> Claims {
    let now = now();
    Claims {
        sub: user.subject(),
        jti: auth_core::new_jti(),
        iat: now,
        nbf: now,
        exp: now + 3600,
        iss: auth_core::application_name(),
        aud: auth_core::application_name(),
        purpose: "user".into(),
        cred: None,
        sid: None,
        tenant: None,
        extra: ExtraClaims::new(),
    }
}

/// Signs any header and payload JSON with an HMAC algorithm and a secret.
pub fn forge(header: &Value, payload: &Value, alg: Algorithm, secret: &str) -> String {
    let head = URL_SAFE_NO_PAD.encode(serde_json::to_vec(header).unwrap());
    let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(payload).unwrap());
    let message = format!("{head}.{body}");
    let jalg = match alg {
        Algorithm::HS256 => jsonwebtoken::Algorithm::HS256,
        Algorithm::HS384 => jsonwebtoken::Algorithm::HS384,
        Algorithm::HS512 => jsonwebtoken::Algorithm::HS512,
        other => panic!("forge only signs HMAC, not {other}"),
    };
    let key = jsonwebtoken::EncodingKey::from_secret(secret.as_bytes());
    let sig = jsonwebtoken::crypto::sign(message.as_bytes(), &key, jalg).unwrap();
    format!("{message}.{sig}")
}

/// Signs `claims` with the test secret under a header saying `alg`.
pub fn sign_claims(claims: &Claims) -> String {
    sign_claims_with(claims, SECRET)
}

/// `claims` signed HS256 with `secret` (another than ours: a forgery).
pub fn sign_claims_with(claims: &Claims, secret: &str) -> String {
    forge(
        &serde_json::json!({"alg": "HS256", "typ": "JWT"}),
        &Value::Object(claims.to_json()),
        Algorithm::HS256,
        secret,
    )
}

/// Runs `n` attempts at once (spawned, then released together by a
/// barrier) and returns their results in order.
pub async fn at_once<T, F, Fut>(n: usize, attempt: F) -> Vec<T>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(n));
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let (barrier, attempt) = (barrier.clone(), attempt(i));
            tokio::spawn(async move {
                barrier.wait().await;
                attempt.await
            })
        })
        .collect();
    let mut results = Vec::with_capacity(n);
    for t in tasks {
        results.push(t.await.expect("an attempt panicked"));
    }
    results
}

/// The race check: `n` attempts at once must give exactly one `Ok`, every
/// other attempt an error `lost` accepts as losing (any other error
/// fails the test). Returns the winner's value.
pub async fn exactly_one_winner<T, E, F, Fut>(n: usize, attempt: F, lost: impl Fn(&E) -> bool) -> T
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: std::fmt::Debug + Send + 'static,
{
    let mut winners = Vec::new();
    for r in at_once(n, attempt).await {
        match r {
            Ok(v) => winners.push(v),
            Err(e) if lost(&e) => {}
            Err(e) => panic!("an attempt failed instead of losing: {e:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one of {n} attempts wins");
    winners.pop().expect("one winner")
}

/// A sign-in token of `user`'s living 60 s, issued directly (as
/// `sign_in_with_password` does for a `TokenType::SignIn`).
pub async fn sign_in_token<U: UserResource, S: auth_core::TokenStore>(
    auth: &Auth<U, S>,
    user: &U,
) -> auth_core::IssuedToken {
    let lifetime = auth_core::Lifetime::from_secs(60);
    auth.issue(
        user,
        &auth_core::Purpose::SIGN_IN,
        lifetime,
        ExtraClaims::new(),
    )
    .await
    .unwrap()
}

/// The password every suite registers its users with.
pub const PASSWORD: &str = "password-1";

/// A new member of a suite's user type, not registered: every suite's
/// `User` has an `id`, an `email`, a `hashed_password` and a `role`; its
/// other fields are optional and start empty.
pub fn new_member<U: serde::de::DeserializeOwned>(email: &str) -> U {
    serde_json::from_value(serde_json::json!({
        "id": uuid::Uuid::new_v4(),
        "email": email,
        "hashed_password": "",
        "role": "member",
    }))
    .expect("every suite's user has these four fields")
}

/// Registers a [`new_member`] `email` with `password` (confirmed) in
/// `context`.
pub async fn try_register<U, S>(
    auth: &Auth<U, S>,
    email: &str,
    password: &str,
    context: impl Into<auth_core::SignInContext>,
) -> auth_core::Result<auth_core::SignedIn<U>>
where
    U: auth_core::PasswordUser + serde::de::DeserializeOwned,
    S: auth_core::PasswordStore<U> + auth_core::SingleUseStore,
{
    auth.register_with_password(new_member(email), password, Some(password), context)
        .await
}

/// [`try_register`], which must succeed.
pub async fn register_with<U, S>(
    auth: &Auth<U, S>,
    email: &str,
    password: &str,
    context: impl Into<auth_core::SignInContext>,
) -> auth_core::SignedIn<U>
where
    U: auth_core::PasswordUser + serde::de::DeserializeOwned,
    S: auth_core::PasswordStore<U> + auth_core::SingleUseStore,
{
    try_register(auth, email, password, context).await.unwrap()
}

/// Signs `email` in with [`PASSWORD`] for a token of `token_type`, no
/// extra claims; panics if it fails.
pub async fn sign_in_as<U, S>(
    auth: &Auth<U, S>,
    email: &str,
    token_type: auth_core::TokenType,
) -> auth_core::SignedIn<U>
where
    U: auth_core::PasswordUser,
    S: auth_core::PasswordStore<U> + auth_core::SingleUseStore,
{
    auth.sign_in_with_password(email, PASSWORD, token_type, ExtraClaims::new())
        .await
        .unwrap()
}

/// `user`'s live sessions (the device list), none marked current.
pub async fn sessions_of<U, S>(auth: &Auth<U, S>, user: &U) -> Vec<auth_core::Session>
where
    U: auth_core::PasswordUser,
    S: auth_core::PasswordStore<U> + auth_core::RefreshStore,
{
    auth.list_sessions(user, None).await.unwrap()
}

/// Whether `user` has no live session left (the device list is empty).
pub async fn has_no_sessions<U, S>(auth: &Auth<U, S>, user: &U) -> bool
where
    U: auth_core::PasswordUser,
    S: auth_core::PasswordStore<U> + auth_core::RefreshStore,
{
    sessions_of(auth, user).await.is_empty()
}

/// One `#[tokio::test]` per case of a suite generic over a
/// [`Backend`](conformance::Backend): `$crate::$module::$case($backend)`,
/// on a runtime of `$workers` threads. The suites' own macros list their
/// cases through it.
#[macro_export]
#[doc(hidden)]
macro_rules! backend_cases {
    ($module:ident, $workers:tt, $backend:expr; $($case:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = $workers)]
        async fn $case() {
            $crate::$module::$case($backend).await;
        }
    )*};
}

/// An API key's body (`prefix_id_secret`) with its checksum appended, as a
/// secret scanner computes it: how tests forge keys that pass the offline
/// check.
pub fn with_key_checksum(body: &str) -> String {
    format!("{body}_{}", checksum(body))
}

/// CRC32 in the key's base62, as a scanner would compute it.
fn checksum(body: &str) -> String {
    const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut n = u64::from(crc32fast_hash(body.as_bytes()));
    let mut out = Vec::new();
    for _ in 0..6 {
        out.push(BASE62[(n % 62) as usize]);
        n /= 62;
    }
    out.reverse();
    String::from_utf8(out).unwrap()
}

/// CRC-32 (IEEE), bit by bit: the test's own, so it checks the format
/// rather than reusing the implementation.
fn crc32fast_hash(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Creates `U`'s user table in `f` (the SQL stores need one).
pub async fn with_table<U: UserResource, F: conformance::Fixture>(f: &F) {
    f.create_user_table::<U>().await;
}

/// Prepares nothing (the fixture's own `users` table fits).
pub async fn as_is<F: conformance::Fixture>(_: &F) {}

/// Runs each `case(store)` on a fresh memory, SQLite and PostgreSQL store
/// (modules `memory`, `sqlite`, `postgres`); with `table = super::User;`
/// first, after creating that derived user type's table on the SQL stores
/// (the type is named from inside those modules).
#[macro_export]
macro_rules! on_every_store {
    (table = $user:ty; $($case:ident),* $(,)?) => {
        $crate::on_every_store!(@run $crate::with_table::<$user, _>; $($case),*);
    };
    ($($case:ident),* $(,)?) => {
        $crate::on_every_store!(@run $crate::as_is; $($case),*);
    };
    (@run $prepare:path; $($case:ident),*) => {
        mod memory {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                super::$case(auth_core::MemoryStore::new()).await;
            })*
        }
        mod sqlite {
            use $crate::conformance::Fixture as _;
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let db = $crate::sqlite::fresh_db().await;
                $prepare(&db).await;
                super::$case(db.store()).await;
            })*
        }
        mod postgres {
            use $crate::conformance::Fixture as _;
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let db = $crate::pg::fresh_db().await;
                $prepare(&db).await;
                super::$case(db.store()).await;
            })*
        }
    };
}

/// An audit sink that keeps every event, for tests to read back.
#[derive(Clone, Debug, Default)]
pub struct Collect(std::sync::Arc<std::sync::Mutex<Vec<auth_core::AuditEvent>>>);

impl auth_core::AuditSink for Collect {
    fn record(&self, event: &auth_core::AuditEvent) {
        self.events_mut().push(event.clone());
    }
}

impl Collect {
    fn events_mut(&self) -> std::sync::MutexGuard<'_, Vec<auth_core::AuditEvent>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Every event so far.
    pub fn events(&self) -> Vec<auth_core::AuditEvent> {
        self.events_mut().clone()
    }

    /// The kinds of every event so far, in order.
    pub fn kinds(&self) -> Vec<auth_core::EventKind> {
        self.events_mut().iter().map(|e| e.kind).collect()
    }

    /// The last event.
    pub fn last(&self) -> Option<auth_core::AuditEvent> {
        self.events_mut().last().cloned()
    }
}
