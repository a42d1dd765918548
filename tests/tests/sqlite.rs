//! What only SQLite has: a file that outlives the process, writers that
//! queue for one lock (and wait for another process's), and users of any
//! field type stored through declared column types. The suites shared with
//! the other stores (conformance, user actions, sessions, hardening) run on
//! SQLite in their own files.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use auth_core::{
    Auth, Authenticated, Error, ExtraClaims, HashCost, Secret, SignedIn, TokenType, UserStore,
    token_resource,
};
use auth_sqlite::{SqliteConnectOptions, SqliteStore};
use auth_tests::sqlite::{TestSqlite, fresh_path};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

const SECRET: &str = "sqlite-test-secret-0123456789abcdef0123456789abcdef";

#[token_resource]
pub struct Token;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Plan {
    Free,
    Team,
}

/// A user with a field of every kind the SQLite table maps.
#[derive(Authenticated, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[authentication(
    session_identifier = "jti",
    tokens(token_resource = Token, signing_secret(env = "SQLITE_TEST_SECRET_UNSET")),
    strategies(password()),
)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub hashed_password: String,
    pub active: bool,
    pub verified: Option<bool>,
    pub nickname: Option<String>,
    pub tags: Vec<String>,
    pub plan: Plan,
    pub joined_at: DateTime<Utc>,
    pub balance: f64,
    pub logins: i64,
}

type A = Auth<User, SqliteStore>;

fn auth(store: SqliteStore) -> A {
    Auth::with_secret(User::settings(), &Secret::from(SECRET), store)
        .unwrap()
        .with_hash_cost(HashCost::INSECURE_FAST_FOR_TESTS)
        .unwrap()
}

fn new_user(email: &str) -> User {
    User {
        id: Uuid::new_v4(),
        email: email.into(),
        hashed_password: String::new(),
        active: true,
        verified: None,
        nickname: Some("it's \"quoted\"".into()),
        tags: vec!["a".into(), "b".into()],
        plan: Plan::Team,
        joined_at: DateTime::from_timestamp(1_800_000_000, 123_456_789).unwrap(),
        balance: 12.5,
        logins: 7,
    }
}

/// Registers a [`new_user`] `email` with the suites' password.
async fn register(auth: &A, email: &str) -> Result<SignedIn<User>, Error> {
    let password = Some(auth_tests::PASSWORD);
    auth.register_with_password(
        new_user(email),
        auth_tests::PASSWORD,
        password,
        ExtraClaims::new(),
    )
    .await
}

/// A fresh file whose `User`s live in `members` (the fixture's `users`
/// table is the shared test user's).
async fn fresh() -> (TestSqlite, A) {
    let db = auth_tests::sqlite::fresh_db().await;
    let store = db.store.clone().with_user_table("user", "members").unwrap();
    store.create_user_table::<User>().await.unwrap();
    (db, auth(store))
}

#[tokio::test]
async fn users_of_every_field_kind_round_trip() {
    let (_db, auth) = fresh().await;
    let signed = register(&auth, "kinds@example.com").await.unwrap();
    let mut expected = signed.user.clone();
    let stored: User = auth.store().get_user(&expected.id).await.unwrap().unwrap();
    assert_eq!(stored, expected);
    // Every kind changes, and nulls go both ways.
    expected.active = false;
    expected.verified = Some(true);
    expected.nickname = None;
    expected.tags = vec![];
    expected.plan = Plan::Free;
    expected.balance = -0.25;
    expected.logins = i64::MAX;
    assert!(auth.store().update_user(&expected).await.unwrap());
    let stored: User = auth
        .store()
        .get_user_by_identity("kinds@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored, expected);
    // And the authenticate query decodes it the same way.
    let who = auth.authenticate(&signed.token.token).await.unwrap();
    assert_eq!(who.user, expected);
}

#[tokio::test]
async fn a_missing_user_table_is_a_clear_error() {
    let db = auth_tests::sqlite::fresh_db().await;
    let auth = auth(db.store.clone().with_user_table("user", "members").unwrap());
    let e = register(&auth, "nobody@example.com").await.unwrap_err();
    let Error::Store(e) = e else { panic!("{e:?}") };
    assert!(e.to_string().contains("does not exist"), "{e}");
}

/// The store keeps what it wrote across a close and a reopen of the file,
/// the way an application restart does.
#[tokio::test]
async fn users_and_revocations_survive_a_restart() {
    let path = fresh_path();
    let open = || async {
        let store = SqliteStore::open(&path).await.unwrap();
        store.migrate().await.unwrap();
        store.create_user_table::<User>().await.unwrap();
        store
    };
    let store = open().await;
    let before = auth(store.clone());
    let ada = register(&before, "ada@example.com").await.unwrap();
    let kept = auth_tests::sign_in_as(&before, "ada@example.com", TokenType::User).await;
    before.revoke(&ada.token.token).await.unwrap();
    store.close().await;
    drop(before);

    let store = open().await;
    let after = auth(store.clone());
    assert!(matches!(
        after.authenticate(&ada.token.token).await,
        Err(Error::Revoked)
    ));
    assert_eq!(
        after.authenticate(&kept.token.token).await.unwrap().user.id,
        ada.user.id
    );
    auth_tests::sign_in_as(&after, "ada@example.com", TokenType::User).await;
    // A second migrate of the same file changes nothing.
    store.migrate().await.unwrap();
    store.close().await;
    let _cleanup = TestSqlite { store, path };
}

/// Two stores on one file act as two processes: their writers share
/// SQLite's one write lock. Concurrent writes wait for it (the busy
/// timeout) instead of failing, and a conditional write still has one
/// winner.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writers_of_two_processes_wait_for_the_lock_and_one_wins() {
    let db = auth_tests::sqlite::fresh_db().await;
    let other = SqliteStore::open(&db.path).await.unwrap();
    let stores = [db.store.clone(), other.clone()];
    let res = auth_core::TokenResourceConfig::new("tokens");
    let mut slowest = Duration::ZERO;
    for trial in 0..20 {
        let facts = auth_tests::conformance::facts(&format!("user?id={trial}"), 600);
        let results = auth_tests::at_once(32, |i| {
            let (s, f, r) = (stores[i % 2].clone(), facts.clone(), res.clone());
            async move {
                let started = Instant::now();
                let done = auth_core::token_actions::revoke_token(&s, &r, &f).await;
                (done, started.elapsed())
            }
        })
        .await;
        let mut winners = 0;
        for (done, took) in results {
            slowest = slowest.max(took);
            match done {
                Ok(()) => winners += 1,
                Err(Error::AlreadyRevoked) => {}
                Err(e) => panic!("a writer failed instead of waiting: {e}"),
            }
        }
        assert_eq!(winners, 1, "trial {trial}");
    }
    eprintln!("32 concurrent revokes over two processes' stores, 20 trials: slowest {slowest:?}");
    assert!(slowest < auth_sqlite::DEFAULT_BUSY_TIMEOUT);
    other.close().await;
}

/// Another process holding the write lock past the busy timeout: writes
/// fail with a store error (nothing is half-written), reads go on (WAL),
/// and the same store recovers once the lock is released.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_lock_held_past_the_busy_timeout_fails_closed_and_recovers() {
    let (db, _) = fresh().await;
    let options = SqliteConnectOptions::new()
        .filename(&db.path)
        .busy_timeout(Duration::from_millis(200));
    let store = SqliteStore::connect_with(options, 2)
        .await
        .unwrap()
        .with_user_table("user", "members")
        .unwrap();
    let auth = auth(store.clone());
    let ada = register(&auth, "ada@example.com").await.unwrap();

    let mut holder = sqlx::pool::PoolOptions::<sqlx::Sqlite>::new()
        .max_connections(1)
        .connect_with(SqliteConnectOptions::new().filename(&db.path))
        .await
        .unwrap()
        .begin_with("BEGIN IMMEDIATE")
        .await
        .unwrap();
    sqlx::query("UPDATE tokens SET updated_at = updated_at")
        .execute(&mut *holder)
        .await
        .unwrap();

    let started = Instant::now();
    let e = auth.revoke(&ada.token.token).await;
    assert!(matches!(e, Err(Error::Store(_))), "{e:?}");
    assert!(
        started.elapsed() >= Duration::from_millis(150),
        "it waited first"
    );
    let e = register(&auth, "bob@example.com").await;
    assert!(matches!(e, Err(Error::Store(_))), "{e:?}");
    // Reads do not wait for the writer.
    assert!(auth.authenticate(&ada.token.token).await.is_ok());

    holder.rollback().await.unwrap();
    let bob: Option<User> = auth
        .store()
        .get_user_by_identity("bob@example.com")
        .await
        .unwrap();
    assert!(bob.is_none(), "the failed registration left nothing behind");
    auth.revoke(&ada.token.token).await.unwrap();
    assert!(matches!(
        auth.authenticate(&ada.token.token).await,
        Err(Error::Revoked)
    ));
    store.close().await;
}

#[tokio::test]
async fn an_in_memory_database_or_a_bad_url_is_refused_at_start_up() {
    let e = SqliteStore::connect("sqlite::memory:").await.unwrap_err();
    assert!(matches!(e, Error::Config(_)), "{e:?}");
    let e = SqliteStore::connect("postgres://localhost/db")
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Config(_)), "{e:?}");
    let db = auth_tests::sqlite::fresh_db().await;
    assert!(
        db.store
            .clone()
            .with_user_table("user", "bad name")
            .is_err()
    );
    assert!(
        db.store.clone().with_token_table("bad;name").is_err(),
        "a bad token table name is a start-up error"
    );
    assert!(
        Auth::<User, _>::with_secret(
            {
                let mut s = User::settings();
                s.token_resource.table = "other_tokens".into();
                s
            },
            &Secret::from(SECRET),
            db.store.clone()
        )
        .is_err(),
        "so is a store bound to another table than the resource's"
    );
}

/// The durability settings the README promises, on the writer and on every
/// reader, and a migrate that two processes run at once applies each step once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_file_is_in_wal_mode_with_full_sync_and_migrates_once() {
    let path = fresh_path();
    let (a, b) = tokio::join!(SqliteStore::open(&path), SqliteStore::open(&path));
    let (a, b) = (a.unwrap(), b.unwrap());
    let (ra, rb) = tokio::join!(a.migrate(), b.migrate());
    ra.unwrap();
    rb.unwrap();
    let version: i64 = sqlx::query_scalar(
        "SELECT version FROM auth_sqlite_schema WHERE object = 'token_table:tokens'",
    )
    .fetch_one(a.reader())
    .await
    .unwrap();
    assert_eq!(
        version, 5,
        "the token table, its API keys, attempt counters and events"
    );
    for pool in [a.writer(), a.reader(), b.writer(), b.reader()] {
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(pool)
            .await
            .unwrap();
        assert_eq!(mode, "wal");
        let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(pool)
            .await
            .unwrap();
        assert_eq!(sync, 2, "synchronous = FULL");
    }
    // The token table has no foreign key: revocations never cascade.
    let fks: i64 = sqlx::query_scalar("SELECT count(*) FROM pragma_foreign_key_list('tokens')")
        .fetch_one(a.reader())
        .await
        .unwrap();
    assert_eq!(fks, 0);
    a.close().await;
    b.close().await;
    let _cleanup = TestSqlite { store: a, path };
}

/// Processes starting together on a new file: switching it to WAL takes a
/// lock SQLite's busy timeout does not wait for, so the store retries the
/// open; every one of them opens (10 files, 8 at once each).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn several_stores_opening_one_new_file_at_once_all_open() {
    for _ in 0..10 {
        let path = fresh_path();
        let opened = auth_tests::at_once(8, |_| {
            let path = path.clone();
            async move { SqliteStore::open(&path).await }
        })
        .await;
        let mut stores = Vec::new();
        for o in opened {
            stores.push(o.expect("every store opens"));
        }
        stores[0].migrate().await.unwrap();
        for s in &stores {
            s.close().await;
        }
        let store = stores.swap_remove(0);
        let _cleanup = TestSqlite { store, path };
    }
}

/// Review finding H3-6: SQLite created the database, WAL and shared-memory
/// files 0644 (anyone on the machine could read every user's hash and
/// token row). The store creates the file 0600; SQLite gives the WAL and
/// SHM files the database file's mode; the connect URL form too.
#[cfg(unix)]
#[tokio::test]
async fn h3_06_the_database_and_its_wal_and_shm_files_are_private() {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    for by_url in [false, true] {
        let path = fresh_path();
        let store = if by_url {
            SqliteStore::connect(&format!("sqlite://{}", path.display()))
                .await
                .unwrap()
        } else {
            SqliteStore::open(&path).await.unwrap()
        };
        store.migrate().await.unwrap();
        for suffix in ["", "-wal", "-shm"] {
            let mut p = path.clone().into_os_string();
            p.push(suffix);
            let p = std::path::PathBuf::from(p);
            assert!(p.exists(), "{} exists while open", p.display());
            assert_eq!(mode(&p), 0o600, "{} (by url: {by_url})", p.display());
        }
        let _cleanup = TestSqlite { store, path };
    }
}

/// A database migrated before API keys (schema version 1, with rows in it)
/// gains the key table at the next `migrate`, its rows untouched.
#[tokio::test]
async fn a_version_1_database_gains_the_api_key_table_and_keeps_its_rows() {
    use auth_core::{ApiKeyStore, NewApiKey, TokenStore};
    let path = fresh_path();
    let store = SqliteStore::open(&path).await.unwrap();
    // Version 1 as it was released: the token table, recorded as version 1.
    sqlx::raw_sql(
        "CREATE TABLE auth_sqlite_schema (object TEXT PRIMARY KEY NOT NULL, version INTEGER NOT NULL, \
         applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))) STRICT; \
         CREATE TABLE \"tokens\" (jti TEXT PRIMARY KEY NOT NULL, subject TEXT NOT NULL, \
         expires_at INTEGER NOT NULL, purpose TEXT NOT NULL, extra_data TEXT, \
         created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL) STRICT; \
         CREATE INDEX \"tokens_expires_at_idx\" ON \"tokens\" (expires_at); \
         CREATE INDEX \"tokens_subject_purpose_idx\" ON \"tokens\" (subject, purpose); \
         INSERT INTO auth_sqlite_schema (object, version) VALUES ('token_table:tokens', 1); \
         INSERT INTO \"tokens\" VALUES ('old', 'user?id=1', 4102444800000000, 'revocation', NULL, 0, 0);",
    )
    .execute(store.writer())
    .await
    .unwrap();
    store.migrate().await.unwrap();
    let version: i64 = sqlx::query_scalar(
        "SELECT version FROM auth_sqlite_schema WHERE object = 'token_table:tokens'",
    )
    .fetch_one(store.reader())
    .await
    .unwrap();
    assert_eq!(version, 5);
    assert!(
        store.is_revoked("old").await.unwrap(),
        "the old rows are kept"
    );
    let key = NewApiKey {
        id: "k1".into(),
        subject: "user?id=1".into(),
        user_key: "1".into(),
        name: "ci".into(),
        scopes: vec![],
        secret_hash: "00".repeat(32),
        expires_at: chrono::Utc::now() + chrono::Duration::hours(1),
    };
    assert!(store.insert_api_key(&key, 5, &[]).await.unwrap());
    assert_eq!(store.get_api_key("k1").await.unwrap().unwrap().name, "ci");
    store.close().await;
    let _ = std::fs::remove_file(&path);
}

/// A database at schema version 2 (token and API-key rows in it) gains the
/// failed-attempt counters and the event table at the next `migrate`, its
/// rows untouched.
#[tokio::test]
async fn a_version_2_database_gains_the_attempt_counters_and_keeps_its_rows() {
    use auth_core::{ApiKeyStore, AttemptStore, Failure, TokenStore};
    let path = fresh_path();
    let store = SqliteStore::open(&path).await.unwrap();
    // Steps 1 and 2 as released, recorded as version 2, with a row in each.
    let steps = SqliteStore::token_table_sql("tokens").unwrap();
    let step_3 = steps
        .find("CREATE TABLE IF NOT EXISTS \"tokens_attempts\"")
        .unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE TABLE auth_sqlite_schema (object TEXT PRIMARY KEY NOT NULL, version INTEGER NOT NULL, \
         applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))) STRICT; \
         {} \
         INSERT INTO auth_sqlite_schema (object, version) VALUES ('token_table:tokens', 2); \
         INSERT INTO \"tokens\" VALUES ('old', 'user?id=1', 4102444800000000, 'revocation', NULL, 0, 0); \
         INSERT INTO \"tokens_api_keys\" (id, subject, user_key, name, scopes, secret_hash, created_at, expires_at) \
         VALUES ('k0', 'user?id=1', '1', 'kept', '[]', '', 0, 4102444800000000);",
        &steps[..step_3]
    )))
    .execute(store.writer())
    .await
    .unwrap();
    store.migrate().await.unwrap();
    let version: i64 = sqlx::query_scalar(
        "SELECT version FROM auth_sqlite_schema WHERE object = 'token_table:tokens'",
    )
    .fetch_one(store.reader())
    .await
    .unwrap();
    assert_eq!(version, 5);
    assert!(store.is_revoked("old").await.unwrap(), "token rows kept");
    assert_eq!(store.get_api_key("k0").await.unwrap().unwrap().name, "kept");
    let failure = Failure {
        key: "user:ip:x",
        max_failures: 1,
    };
    let minute = std::time::Duration::from_secs(60);
    store
        .record_failures(&[failure], minute, minute, &[])
        .await
        .unwrap();
    assert_eq!(
        store
            .locked_attempts(&["user:ip:x".into()])
            .await
            .unwrap()
            .len(),
        1
    );
    store.close().await;
    let _ = std::fs::remove_file(&path);
}

/// A database at schema version 4 (sessions and tokens in it) gains the
/// `tenant` column (on tokens and events) at the next `migrate`: its rows kept, bound to no
/// tenant (so suspending a tenant touches none of them), and new rows
/// bound to tenants beside them.
#[tokio::test]
async fn a_version_4_database_gains_the_tenant_column_and_keeps_its_rows() {
    use auth_core::{NewTokenRow, PurposeFilter, RevokeAll, TokenStore};
    let path = fresh_path();
    let store = SqliteStore::open(&path).await.unwrap();
    let steps = SqliteStore::token_table_sql("tokens").unwrap();
    let step_5 = steps.find("ALTER TABLE \"tokens\" ADD COLUMN").unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE TABLE auth_sqlite_schema (object TEXT PRIMARY KEY NOT NULL, version INTEGER NOT NULL, \
         applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))) STRICT; \
         {} \
         INSERT INTO auth_sqlite_schema (object, version) VALUES ('token_table:tokens', 4); \
         INSERT INTO \"tokens\" VALUES ('s0', 'user?id=1', 4102444800000000, 'session', '{{\"kind\": \"bearer\"}}', 0, 0); \
         INSERT INTO \"tokens\" VALUES ('t0', 'user?id=1', 4102444800000000, 'user', NULL, 0, 0);",
        &steps[..step_5]
    )))
    .execute(store.writer())
    .await
    .unwrap();
    store.migrate().await.unwrap();
    let version: i64 = sqlx::query_scalar(
        "SELECT version FROM auth_sqlite_schema WHERE object = 'token_table:tokens'",
    )
    .fetch_one(store.reader())
    .await
    .unwrap();
    assert_eq!(version, 5);
    let found = store.lookup("t0", Some("s0")).await.unwrap();
    let (token, session) = (found.token.unwrap(), found.session.unwrap());
    assert_eq!((token.purpose.as_str(), token.tenant), ("user", None));
    assert_eq!(
        (session.purpose.as_str(), session.tenant),
        ("session", None)
    );
    let keep = Duration::from_secs(60);
    let row = NewTokenRow {
        jti: "t1".into(),
        subject: "user?id=1".into(),
        expires_at: Utc::now() + chrono::Duration::hours(1),
        purpose: "user".into(),
        extra_data: None,
        tenant: Some("acme".into()),
    };
    store
        .insert_tokens(std::slice::from_ref(&row), &[])
        .await
        .unwrap();
    assert_eq!(store.revoke_tenant("acme", keep).await.unwrap(), 1);
    let all = PurposeFilter::all();
    let revoke = RevokeAll::tokens("user?id=1", &all, keep);
    assert_eq!(
        store.revoke_all_for_subject(&revoke, &[]).await.unwrap(),
        2,
        "the old rows, untouched by the tenant's suspension"
    );
    // The event table gained the column too.
    let event = auth_core::AuditEvent {
        kind: auth_core::EventKind::MembershipEnded,
        at: chrono::Utc::now(),
        subject: Some("user?id=1".into()),
        session: None,
        tenant: Some("acme".into()),
        ip: None,
        user_agent: None,
        outcome: auth_core::Outcome::Success,
    };
    auth_core::AuditStore::insert_events(&store, std::slice::from_ref(&event))
        .await
        .unwrap();
    let listed = auth_core::AuditStore::list_events(&store, "user?id=1", 1)
        .await
        .unwrap();
    assert_eq!(listed[0].tenant.as_deref(), Some("acme"));
    store.close().await;
    let _ = std::fs::remove_file(&path);
}
