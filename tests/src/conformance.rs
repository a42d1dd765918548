//! The storage conformance suite: every store behaviour, written once, generic
//! over the store. A backend runs it with [`conformance_suite!`].

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use auth_core::{
    Error, InsertUserError, NewTokenRow, PasswordStore, Purpose, PurposeFilter, RefreshStore,
    RevokeAll, Rotation, Rows, Sessions, SingleUseStore, TokenResourceConfig, UserStore,
};
use auth_core::{TokenFacts, token_actions};
use chrono::{DateTime, Utc};
use serde_json::json;

use crate::User;

/// What a test makes: the store, and whatever must live as long as the test
/// (a `TestDb` drops its schema when the test ends), with what the suites
/// need to know of the backend beyond the store traits.
pub trait Fixture {
    type Store: SuiteStore;
    fn store(&self) -> Self::Store;
    /// Creates `U`'s user table, for a store that needs one.
    fn create_user_table<U: auth_core::UserResource>(&self) -> impl Future<Output = ()> + Send;
    /// How many rows the `tokens` table holds.
    fn token_count(&self) -> impl Future<Output = usize> + Send;
    /// Runs `sql` (one or more statements) on the store's database through
    /// the connection that writes: the rows it changed, or `None` for a
    /// store without SQL.
    fn execute(store: &Self::Store, sql: String) -> impl Future<Output = Option<u64>> + Send;
}

impl Fixture for auth_core::MemoryStore {
    type Store = Self;
    fn store(&self) -> Self {
        self.clone()
    }
    /// Memory tables need no schema.
    async fn create_user_table<U: auth_core::UserResource>(&self) {}
    async fn token_count(&self) -> usize {
        auth_core::MemoryStore::token_count(self)
    }
    async fn execute(_: &Self, _: String) -> Option<u64> {
        None
    }
}

/// A SQL store's fixture: its store, its `create_user_table`, the `tokens`
/// rows counted through `$reader` and SQL run through `$writer` (the pools
/// that read and write).
macro_rules! sql_fixture {
    ($fixture:ty, $store:ty, $reader:ident, $writer:ident) => {
        impl Fixture for $fixture {
            type Store = $store;
            fn store(&self) -> $store {
                self.store.clone()
            }
            async fn create_user_table<U: auth_core::UserResource>(&self) {
                self.store.create_user_table::<U>().await.unwrap();
            }
            async fn token_count(&self) -> usize {
                let n: i64 = sqlx::query_scalar("SELECT count(*) FROM tokens")
                    .fetch_one(self.store.$reader())
                    .await
                    .unwrap();
                usize::try_from(n).unwrap()
            }
            async fn execute(store: &$store, sql: String) -> Option<u64> {
                let done = sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                    .execute(store.$writer())
                    .await
                    .unwrap();
                Some(done.rows_affected())
            }
        }
    };
}

sql_fixture!(crate::pg::TestDb, auth_postgres::PgStore, pool, pool);
sql_fixture!(
    crate::sqlite::TestSqlite,
    auth_sqlite::SqliteStore,
    reader,
    writer
);

/// Makes fresh fixtures of one backend, for suites whose cases need several
/// (a case that runs once per mode gets a fresh store for each).
pub trait Backend: Copy + Send + Sync + 'static {
    type Fixture: Fixture + Send + 'static;
    fn fresh(self) -> impl Future<Output = Self::Fixture> + Send;
}

/// `MemoryStore` fixtures.
#[derive(Clone, Copy, Debug)]
pub struct Memory;
/// `PgStore` fixtures, each on a fresh schema.
#[derive(Clone, Copy, Debug)]
pub struct Postgres;
/// `SqliteStore` fixtures, each on a fresh file.
#[derive(Clone, Copy, Debug)]
pub struct Sqlite;

impl Backend for Memory {
    type Fixture = auth_core::MemoryStore;
    async fn fresh(self) -> auth_core::MemoryStore {
        auth_core::MemoryStore::new()
    }
}

impl Backend for Postgres {
    type Fixture = crate::pg::TestDb;
    async fn fresh(self) -> crate::pg::TestDb {
        crate::pg::fresh_db().await
    }
}

impl Backend for Sqlite {
    type Fixture = crate::sqlite::TestSqlite;
    async fn fresh(self) -> crate::sqlite::TestSqlite {
        crate::sqlite::fresh_db().await
    }
}

/// What a backend's store must be to run every suite: the token store, and
/// the user and password store of each suite's user resource. Each suite's
/// cases take it from their `Backend`/`Fixture` bound, so none restates it.
pub trait SuiteStore:
    ConformanceStore
    + PasswordStore<crate::browser::User>
    + PasswordStore<crate::hardening::User>
    + PasswordStore<crate::sessions::User>
    + PasswordStore<crate::special::User>
    + PasswordStore<crate::special::Customer>
    + PasswordStore<crate::user_actions::User>
    + PasswordStore<crate::user_actions::Member>
    + PasswordStore<crate::user_actions::NoSignInTokens>
{
}
impl SuiteStore for auth_core::MemoryStore {}
impl SuiteStore for auth_postgres::PgStore {}
impl SuiteStore for auth_sqlite::SqliteStore {}

/// What a backend must be to run the suite: a token store that can be
/// bound to another table over the same data.
pub trait ConformanceStore:
    RefreshStore
    + SingleUseStore
    + auth_core::ApiKeyStore
    + auth_core::AttemptStore
    + auth_core::AuditStore
    + UserStore<User>
    + Clone
    + 'static
{
    /// This store, bound to the token table `table`.
    fn bound_to(&self, table: &str) -> Self;
}
impl ConformanceStore for auth_core::MemoryStore {
    fn bound_to(&self, table: &str) -> Self {
        self.clone().with_token_table(table)
    }
}
impl ConformanceStore for auth_postgres::PgStore {
    fn bound_to(&self, table: &str) -> Self {
        self.clone().with_token_table(table).unwrap()
    }
}
impl ConformanceStore for auth_sqlite::SqliteStore {
    fn bound_to(&self, table: &str) -> Self {
        self.clone().with_token_table(table).unwrap()
    }
}

const RES: TokenResourceConfig = TokenResourceConfig::new("tokens");

pub fn facts(subject: &str, expires_in_secs: i64) -> TokenFacts {
    TokenFacts {
        jti: auth_core::new_jti(),
        subject: subject.into(),
        expires_at: at(expires_in_secs),
        tenant: None,
    }
}

fn at(secs_from_now: i64) -> DateTime<Utc> {
    // Whole seconds, as token `exp` claims are.
    let t = Utc::now().timestamp() + secs_from_now;
    DateTime::from_timestamp(t, 0).unwrap()
}

pub async fn store_and_get_token<S: ConformanceStore>(s: S) {
    let f = facts("user?id=1", 600);
    token_actions::store_token(&s, &RES, &f, &Purpose::USER, Some(json!({"role": "admin"})))
        .await
        .unwrap();
    let row = live_row(&s, &RES, &f.jti, None).await.unwrap();
    assert_eq!(row.jti, f.jti);
    assert_eq!(row.subject, "user?id=1");
    assert_eq!(row.purpose, "user");
    assert_eq!(row.expires_at, f.expires_at);
    assert_eq!(row.extra_data, Some(json!({"role": "admin"})));
    assert!(row.created_at <= row.updated_at);
    assert!(
        live_row(&s, &RES, &f.jti, Some(&Purpose::USER))
            .await
            .is_some()
    );
    assert!(
        live_row(&s, &RES, &f.jti, Some(&Purpose::SIGN_IN))
            .await
            .is_none()
    );
    assert!(live_row(&s, &RES, "no-such-jti", None).await.is_none());
    // Another table is another namespace, over the same data.
    let other = TokenResourceConfig::new("other_tokens");
    let bound = s.bound_to("other_tokens");
    assert!(live_row(&bound, &other, &f.jti, None).await.is_none());
    // A store bound to one table refuses another resource's actions.
    let refused = token_actions::get_token(&s, &other, &f.jti, None).await;
    assert!(
        matches!(&refused, Err(Error::Config(m)) if m.contains("with_token_table(\"other_tokens\")")),
        "{refused:?}"
    );
}

pub async fn get_token_hides_expired_rows<S: ConformanceStore>(s: S) {
    let f = facts("user?id=1", -5);
    token_actions::store_token(&s, &RES, &f, &Purpose::USER, None)
        .await
        .unwrap();
    assert!(live_row(&s, &RES, &f.jti, None).await.is_none());
}

pub async fn store_token_upserts_but_never_resurrects_a_revocation<S: ConformanceStore>(s: S) {
    let f = facts("user?id=1", 600);
    token_actions::store_token(&s, &RES, &f, &Purpose::SIGN_IN, None)
        .await
        .unwrap();
    token_actions::store_token(&s, &RES, &f, &Purpose::USER, Some(json!({"a": 1})))
        .await
        .unwrap();
    let row = live_row(&s, &RES, &f.jti, None).await.unwrap();
    assert_eq!(
        (row.purpose.as_str(), row.extra_data),
        ("user", Some(json!({"a": 1})))
    );

    token_actions::revoke_token(&s, &RES, &f).await.unwrap();
    let again = token_actions::store_token(&s, &RES, &f, &Purpose::USER, None).await;
    assert!(matches!(again, Err(Error::Revoked)), "{again:?}");
    assert!(token_actions::is_revoked(&s, &RES, &f.jti).await.unwrap());
    let row = live_row(&s, &RES, &f.jti, None).await.unwrap();
    assert_eq!(row.purpose, "revocation");
}

pub async fn revoke_token_twice_is_already_revoked<S: ConformanceStore>(s: S) {
    let f = facts("user?id=1", 600);
    assert!(!token_actions::is_revoked(&s, &RES, &f.jti).await.unwrap());
    token_actions::revoke_token(&s, &RES, &f).await.unwrap();
    assert!(token_actions::is_revoked(&s, &RES, &f.jti).await.unwrap());
    let second = token_actions::revoke_token(&s, &RES, &f).await;
    assert!(matches!(second, Err(Error::AlreadyRevoked)), "{second:?}");
    // The revocation row outlives the token by the skew margin (so no
    // verifier still accepting the token finds it gone), then is expunged.
    let row = live_row(&s, &RES, &f.jti, Some(&Purpose::REVOCATION))
        .await
        .unwrap();
    assert_eq!(
        row.expires_at,
        f.expires_at + chrono::Duration::from_std(auth_core::REVOCATION_SKEW_MARGIN).unwrap()
    );
    assert_eq!(row.subject, "user?id=1");
}

pub async fn revoke_token_flips_a_stored_row<S: ConformanceStore>(s: S) {
    let f = facts("user?id=1", 600);
    token_actions::store_token(&s, &RES, &f, &Purpose::USER, Some(json!({"r": 1})))
        .await
        .unwrap();
    token_actions::revoke_token(&s, &RES, &f).await.unwrap();
    assert!(
        live_row(&s, &RES, &f.jti, Some(&Purpose::USER))
            .await
            .is_none()
    );
    assert!(token_actions::is_revoked(&s, &RES, &f.jti).await.unwrap());
}

pub async fn concurrent_revokes_have_exactly_one_winner<S: ConformanceStore>(s: S) {
    for stored_first in [false, true] {
        let f = facts("user?id=1", 600);
        if stored_first {
            token_actions::store_token(&s, &RES, &f, &Purpose::USER, None)
                .await
                .unwrap();
        }
        crate::exactly_one_winner(
            32,
            |_| {
                let (s, f) = (s.clone(), f.clone());
                async move { token_actions::revoke_token(&s, &RES, &f).await }
            },
            |e| matches!(e, Error::AlreadyRevoked),
        )
        .await;
        // What stands is one revocation of this token, kept past its expiry.
        let row = live_row(&s, &RES, &f.jti, None)
            .await
            .expect("the revocation row");
        assert_eq!(
            (row.purpose.as_str(), row.subject.as_str()),
            ("revocation", "user?id=1")
        );
        assert!(
            row.expires_at >= f.expires_at,
            "kept at least as long as the token"
        );
        assert!(token_actions::is_revoked(&s, &RES, &f.jti).await.unwrap());
    }
}

pub async fn revoke_jti_without_the_token<S: ConformanceStore>(s: S) {
    token_actions::revoke_jti(&s, &RES, "lost-jti", "user?id=9")
        .await
        .unwrap();
    assert!(
        token_actions::is_revoked(&s, &RES, "lost-jti")
            .await
            .unwrap()
    );
    let again = token_actions::revoke_jti(&s, &RES, "lost-jti", "user?id=9").await;
    assert!(matches!(again, Err(Error::AlreadyRevoked)));
    let row = live_row(&s, &RES, "lost-jti", None).await.unwrap();
    assert!(
        row.expires_at > Utc::now() + chrono::Duration::days(365 * 100),
        "never expunged"
    );
    assert_eq!(token_actions::expunge_expired(&s, &RES).await.unwrap(), 0);
}

pub async fn revoke_all_stored_for_subject_honours_filters<S: ConformanceStore>(s: S) {
    let mine = "user?id=1";
    let user = facts(mine, 600);
    let sign_in = facts(mine, 600);
    let confirm = facts(mine, 600);
    let theirs = facts("user?id=2", 600);
    token_actions::store_token(&s, &RES, &user, &Purpose::USER, None)
        .await
        .unwrap();
    token_actions::store_token(&s, &RES, &sign_in, &Purpose::SIGN_IN, None)
        .await
        .unwrap();
    token_actions::store_token(&s, &RES, &confirm, &Purpose::from_static("confirm"), None)
        .await
        .unwrap();
    token_actions::store_token(&s, &RES, &theirs, &Purpose::USER, None)
        .await
        .unwrap();

    let only_sign_in = PurposeFilter {
        include: Some(vec![Purpose::SIGN_IN]),
        exclude: vec![Purpose::REVOCATION],
    };
    let n = token_actions::revoke_all_stored_for_subject(&s, &RES, mine, &only_sign_in)
        .await
        .unwrap();
    assert_eq!(n, 1);
    assert!(
        token_actions::is_revoked(&s, &RES, &sign_in.jti)
            .await
            .unwrap()
    );
    assert!(
        !token_actions::is_revoked(&s, &RES, &user.jti)
            .await
            .unwrap()
    );

    let not_confirm = PurposeFilter {
        include: None,
        exclude: vec![Purpose::REVOCATION, Purpose::from_static("confirm")],
    };
    let n = token_actions::revoke_all_stored_for_subject(&s, &RES, mine, &not_confirm)
        .await
        .unwrap();
    assert_eq!(n, 1, "only the user row is left to flip");
    assert!(
        token_actions::is_revoked(&s, &RES, &user.jti)
            .await
            .unwrap()
    );
    assert!(
        !token_actions::is_revoked(&s, &RES, &confirm.jti)
            .await
            .unwrap()
    );
    assert!(
        !token_actions::is_revoked(&s, &RES, &theirs.jti)
            .await
            .unwrap(),
        "another subject"
    );

    let n = token_actions::revoke_all_stored_for_subject(&s, &RES, mine, &PurposeFilter::all())
        .await
        .unwrap();
    assert_eq!(n, 1);
    let n = token_actions::revoke_all_stored_for_subject(&s, &RES, mine, &PurposeFilter::all())
        .await
        .unwrap();
    assert_eq!(n, 0, "revocations are not counted again");
}

pub async fn read_and_expunge_only_expired_rows<S: ConformanceStore>(s: S) {
    let res = TokenResourceConfig {
        expunge_batch_size: 7,
        ..RES
    };
    let (mut live, mut revoked) = (Vec::new(), Vec::new());
    for i in 0..50 {
        let f = facts(&format!("user?id={i}"), -10 - i);
        token_actions::store_token(&s, &res, &f, &Purpose::USER, None)
            .await
            .unwrap();
        if i % 5 == 0 {
            token_actions::revoke_token(&s, &res, &f).await.unwrap();
            revoked.push(f.jti.clone());
        }
    }
    for i in 0..20 {
        let f = facts(&format!("user?id={i}"), 600 + i);
        token_actions::store_token(&s, &res, &f, &Purpose::USER, None)
            .await
            .unwrap();
        live.push(f);
    }
    token_actions::revoke_jti(&s, &res, "forever", "user?id=1")
        .await
        .unwrap();

    // The 10 revoked ones expired under a minute ago: their revocation rows
    // are kept for the skew margin, so 40 rows are expired.
    let expired = token_actions::read_expired(&s, &res, 1000).await.unwrap();
    assert_eq!(expired.len(), 40);
    assert!(expired.iter().all(|r| r.expires_at < Utc::now()));
    assert!(expired.iter().all(|r| r.purpose != "revocation"));
    assert_eq!(
        token_actions::read_expired(&s, &res, 3)
            .await
            .unwrap()
            .len(),
        3
    );

    assert_eq!(token_actions::expunge_expired(&s, &res).await.unwrap(), 40);
    for jti in &revoked {
        assert!(token_actions::is_revoked(&s, &res, jti).await.unwrap());
    }
    assert!(
        token_actions::read_expired(&s, &res, 1000)
            .await
            .unwrap()
            .is_empty()
    );
    for f in &live {
        assert!(live_row(&s, &res, &f.jti, None).await.is_some());
    }
    assert!(
        token_actions::is_revoked(&s, &res, "forever")
            .await
            .unwrap()
    );
    assert_eq!(token_actions::expunge_expired(&s, &res).await.unwrap(), 0);
}

pub async fn confirmation_changes_round_trip<S: ConformanceStore>(s: S) {
    let confirm = Purpose::from_static("confirm");
    let f = facts("user?id=1", 600);
    let mut changes = serde_json::Map::new();
    changes.insert("email".into(), json!("new@example.com"));
    token_actions::store_confirmation_changes(&s, &RES, &f, &confirm, changes.clone())
        .await
        .unwrap();
    let got = token_actions::get_confirmation_changes(&s, &RES, &f.jti, &confirm)
        .await
        .unwrap();
    assert_eq!(got, Some(changes.clone()));
    let other = Purpose::from_static("reset");
    assert_eq!(
        token_actions::get_confirmation_changes(&s, &RES, &f.jti, &other)
            .await
            .unwrap(),
        None
    );

    let old = facts("user?id=1", -1);
    token_actions::store_confirmation_changes(&s, &RES, &old, &confirm, changes)
        .await
        .unwrap();
    assert_eq!(
        token_actions::get_confirmation_changes(&s, &RES, &old.jti, &confirm)
            .await
            .unwrap(),
        None
    );
}

pub async fn users_by_key_and_identity<S: ConformanceStore>(s: S) {
    let ada = User::new("ada@example.com");
    s.insert_user(&ada).await.unwrap();
    let got: Option<User> = s.get_user(&ada.id).await.unwrap();
    assert_eq!(got.as_ref(), Some(&ada));
    let got: Option<User> = s.get_user_by_identity("ada@example.com").await.unwrap();
    assert_eq!(got.as_ref(), Some(&ada));
    let none: Option<User> = s.get_user(&uuid::Uuid::new_v4()).await.unwrap();
    assert!(none.is_none());

    let twin = User::new("ada@example.com");
    assert!(matches!(
        s.insert_user(&twin).await,
        Err(InsertUserError::IdentityTaken)
    ));
    let none: Option<User> = s.get_user(&twin.id).await.unwrap();
    assert!(none.is_none(), "no partial write");

    let mut changed = ada.clone();
    changed.role = "admin".into();
    assert!(s.update_user(&changed).await.unwrap());
    let got: Option<User> = s.get_user(&ada.id).await.unwrap();
    assert_eq!(got.unwrap().role, "admin");
    assert!(
        !s.update_user(&User::new("ghost@example.com"))
            .await
            .unwrap()
    );
}

pub async fn concurrent_registrations_of_one_identity_have_one_winner<S: ConformanceStore>(s: S) {
    let winner = crate::exactly_one_winner(
        16,
        |_| {
            let s = s.clone();
            async move {
                let user = User::new("race@example.com");
                s.insert_user(&user).await.map(|()| user)
            }
        },
        |e| matches!(e, InsertUserError::IdentityTaken),
    )
    .await;
    // What is stored is the winner, once.
    let stored: User = s
        .get_user_by_identity("race@example.com")
        .await
        .unwrap()
        .expect("the winner is stored");
    assert_eq!(stored, winner);
}

pub async fn expunger_runs_on_its_interval_and_stops_on_shutdown<S: ConformanceStore>(s: S) {
    for _ in 0..10 {
        token_actions::store_token(&s, &RES, &facts("user?id=1", -5), &Purpose::USER, None)
            .await
            .unwrap();
    }
    let live = facts("user?id=1", 600);
    token_actions::store_token(&s, &RES, &live, &Purpose::USER, None)
        .await
        .unwrap();

    let handle = auth_core::spawn_expunger_every(s.clone(), Duration::from_millis(50), RES);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !token_actions::read_expired(&s, &RES, 100)
        .await
        .unwrap()
        .is_empty()
    {
        assert!(tokio::time::Instant::now() < deadline, "expunger never ran");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(live_row(&s, &RES, &live.jti, None).await.is_some());

    tokio::time::timeout(Duration::from_secs(5), handle.shutdown())
        .await
        .expect("shutdown is prompt");
    let late = facts("user?id=1", -5);
    token_actions::store_token(&s, &RES, &late, &Purpose::USER, None)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        token_actions::read_expired(&s, &RES, 100)
            .await
            .unwrap()
            .len(),
        1,
        "stopped"
    );
}

/// Writes `n` rows for `subject`, expiring `expires_in_secs` from now, from 32 tasks.
/// `n` rows of `subject`, written a thousand at a time (one write each:
/// a store that syncs every commit to disk is not slowed to one row per sync).
async fn insert_many<S: ConformanceStore>(s: &S, n: usize, subject: &str, expires_in_secs: i64) {
    let rows: Vec<NewTokenRow> = (0..n)
        .map(|_| {
            let f = facts(subject, expires_in_secs);
            NewTokenRow {
                jti: f.jti,
                subject: f.subject,
                expires_at: f.expires_at,
                purpose: Purpose::USER.as_str().to_owned(),
                extra_data: None,
                tenant: None,
            }
        })
        .collect();
    for chunk in rows.chunks(1_000) {
        s.insert_tokens(chunk, &[]).await.unwrap();
    }
}

/// The row of `jti` in `tokens`, as the lookup finds it.
/// `get_token`: the live row of `jti` in `res`'s table (of `purpose` when
/// given).
async fn live_row<S: ConformanceStore>(
    s: &S,
    res: &TokenResourceConfig,
    jti: &str,
    purpose: Option<&Purpose>,
) -> Option<auth_core::TokenRow> {
    token_actions::get_token(s, res, jti, purpose)
        .await
        .unwrap()
}

async fn stored<S: ConformanceStore>(s: &S, jti: &str) -> Option<auth_core::TokenRowFacts> {
    s.lookup(jti, None).await.unwrap().token
}

/// No expired row is left, and `live` rows of `user?id=live` are (counted
/// by revoking them).
async fn assert_only_live_rows_left<S: ConformanceStore>(s: &S, live: u64) {
    assert!(
        token_actions::read_expired(s, &RES, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let n = token_actions::revoke_all_stored_for_subject(
        s,
        &RES,
        "user?id=live",
        &PurposeFilter::all(),
    )
    .await
    .unwrap();
    assert_eq!(n, live, "every live row is still there");
}

pub async fn expunge_100_000_expired_rows_beside_live_ones<S: ConformanceStore>(s: S) {
    insert_many(&s, 100_000, "user?id=old", -60).await;
    insert_many(&s, 1_000, "user?id=live", 3600).await;
    let removed = token_actions::expunge_expired(&s, &RES).await.unwrap();
    assert_eq!(removed, 100_000);
    assert_only_live_rows_left(&s, 1_000).await;
}

pub async fn two_expungers_at_once_remove_each_row_once<S: ConformanceStore>(s: S) {
    insert_many(&s, 20_000, "user?id=old", -60).await;
    insert_many(&s, 100, "user?id=live", 3600).await;
    let small = TokenResourceConfig {
        expunge_batch_size: 500,
        ..RES
    };
    let a = tokio::spawn({
        let (s, r) = (s.clone(), small.clone());
        async move { token_actions::expunge_expired(&s, &r).await }
    });
    let b = tokio::spawn({
        let (s, r) = (s.clone(), small.clone());
        async move { token_actions::expunge_expired(&s, &r).await }
    });
    let (a, b) = (a.await.unwrap().unwrap(), b.await.unwrap().unwrap());
    // Each stops when it sees a short batch; whatever one left, a third run finds.
    let rest = token_actions::expunge_expired(&s, &small).await.unwrap();
    assert_eq!(
        a + b + rest,
        20_000,
        "each expired row removed exactly once ({a} + {b} + {rest})"
    );
    assert_only_live_rows_left(&s, 100).await;
}

fn new_row(jti: &str, subject: &str, purpose: &str, expires_in_secs: i64) -> NewTokenRow {
    NewTokenRow {
        jti: jti.into(),
        subject: subject.into(),
        expires_at: at(expires_in_secs),
        purpose: purpose.into(),
        extra_data: Some(json!({"k": jti})),
        tenant: None,
    }
}

/// A row of `tenant`.
fn tenant_row(subject: &str, purpose: &str, tenant: Option<&str>) -> NewTokenRow {
    NewTokenRow {
        tenant: tenant.map(str::to_owned),
        ..new_row(&auth_core::new_jti(), subject, purpose, 600)
    }
}

/// Every write path keeps a row's tenant and every read returns it; log
/// out everywhere in one tenant flips only that tenant's rows of the
/// subject; suspending a tenant flips its rows of every subject, in one
/// statement, and nothing else; a revocation keeps the tenant it names.
pub async fn rows_are_bound_to_their_tenant_and_revoked_by_it<S: ConformanceStore>(s: S) {
    let (ada, bob) = ("user?id=ada", "user?id=bob");
    let session_a = tenant_row(ada, "session", Some("acme"));
    let session_b = tenant_row(ada, "session", Some("globex"));
    let access_a = tenant_row(ada, "user", Some("acme"));
    let untenanted = tenant_row(ada, "user", None);
    let bob_a = tenant_row(bob, "session", Some("acme"));
    let bob_b = tenant_row(bob, "user", Some("globex"));
    s.insert_tokens(
        &[session_a.clone(), session_b.clone(), access_a.clone()],
        &[],
    )
    .await
    .unwrap();
    s.insert_token(&untenanted).await.unwrap();
    assert!(s.upsert_token(&bob_a).await.unwrap());
    s.insert_tokens(std::slice::from_ref(&bob_b), &[])
        .await
        .unwrap();
    // Read back: the lookup (token and session), get_token, the device list.
    let found = s.lookup(&access_a.jti, Some(&session_a.jti)).await.unwrap();
    assert_eq!(found.token.unwrap().tenant.as_deref(), Some("acme"));
    assert_eq!(found.session.unwrap().tenant.as_deref(), Some("acme"));
    let row = s.get_token(&session_b.jti, None, Utc::now()).await.unwrap();
    assert_eq!(row.unwrap().tenant.as_deref(), Some("globex"));
    assert_eq!(stored(&s, &untenanted.jti).await.unwrap().tenant, None);
    let mut listed: Vec<_> = s
        .list_sessions(ada, Utc::now())
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.tenant)
        .collect();
    listed.sort();
    assert_eq!(listed, [Some("acme".into()), Some("globex".into())]);
    // Log out everywhere in acme: ada's two acme rows, nothing else.
    let all = PurposeFilter::all();
    let keep = Duration::from_secs(60);
    let revoke = RevokeAll::tokens(ada, &all, keep).in_tenant(Some("acme"));
    assert_eq!(s.revoke_all_for_subject(&revoke, &[]).await.unwrap(), 2);
    let purpose = async |jti: &str| stored(&s, jti).await.unwrap().purpose;
    assert_eq!(purpose(&session_a.jti).await, "revocation");
    assert_eq!(purpose(&access_a.jti).await, "revocation");
    assert_eq!(
        stored(&s, &access_a.jti).await.unwrap().tenant.as_deref(),
        Some("acme"),
        "a revocation keeps its tenant"
    );
    for live in [&session_b, &untenanted, &bob_a] {
        assert_ne!(purpose(&live.jti).await, "revocation");
    }
    // Suspend globex: every globex row of every subject, nothing else.
    assert_eq!(s.revoke_tenant("globex", keep).await.unwrap(), 2);
    assert_eq!(purpose(&session_b.jti).await, "revocation");
    assert_eq!(purpose(&bob_b.jti).await, "revocation");
    assert_ne!(purpose(&untenanted.jti).await, "revocation");
    assert_ne!(purpose(&bob_a.jti).await, "revocation");
    assert_eq!(s.revoke_tenant("globex", keep).await.unwrap(), 0);
    assert_eq!(s.revoke_tenant("initech", keep).await.unwrap(), 0);
    // Expired rows of every tenant are expunged alike.
    let expired = NewTokenRow {
        tenant: Some("acme".into()),
        ..new_row(&auth_core::new_jti(), bob, "user", -60)
    };
    s.insert_token(&expired).await.unwrap();
    assert!(
        s.read_expired(10)
            .await
            .unwrap()
            .iter()
            .any(|r| r.jti == expired.jti)
    );
    let batch = s.delete_expired(at(-3600), 100).await.unwrap();
    assert!(batch.deleted >= 1);
    assert!(stored(&s, &expired.jti).await.is_none());
    // A revocation written for a jti names its tenant.
    let revocation = tenant_row(bob, "revocation", Some("initech"));
    assert!(s.insert_revocation(&revocation, &[]).await.unwrap());
    let row = stored(&s, &revocation.jti).await.unwrap();
    assert_eq!(
        (row.purpose.as_str(), row.tenant.as_deref()),
        ("revocation", Some("initech"))
    );
}

pub async fn insert_tokens_is_all_or_nothing<S: ConformanceStore>(s: S) {
    let (a, b) = (auth_core::new_jti(), auth_core::new_jti());
    let rows = [
        new_row(&a, "user?id=1", "session", 600),
        new_row(&b, "user?id=1", "user", 600),
    ];
    s.insert_tokens(&rows, &[]).await.unwrap();
    let found = s.lookup(&b, Some(&a)).await.unwrap();
    assert_eq!(found.token.as_ref().unwrap().purpose, "user");
    let session = found.session.unwrap();
    assert_eq!(
        (session.jti.as_str(), session.purpose.as_str()),
        (a.as_str(), "session")
    );
    assert_eq!(session.subject, "user?id=1");
    assert!(session.created_at <= Utc::now() && session.expires_at > Utc::now());
    // A row read as a token is whole.
    assert_eq!(
        stored(&s, &a).await.unwrap().extra_data,
        Some(json!({"k": a}))
    );
    // One of these clashes: none is written.
    let c = auth_core::new_jti();
    let clash = [
        new_row(&c, "user?id=1", "user", 600),
        new_row(&a, "user?id=1", "user", 600),
    ];
    assert!(s.insert_tokens(&clash, &[]).await.is_err());
    assert!(stored(&s, &c).await.is_none());
    // Lookup reports rows whatever their purpose or expiry; absent ones are None.
    let old = auth_core::new_jti();
    s.insert_tokens(&[new_row(&old, "user?id=1", "revocation", -600)], &[])
        .await
        .unwrap();
    let found = s.lookup(&old, Some("nope")).await.unwrap();
    assert_eq!(found.token.unwrap().purpose, "revocation");
    assert!(found.session.is_none());
    assert_eq!(s.lookup("nope", None).await.unwrap(), Rows::default());
}

pub async fn redeem_spends_once_and_inserts_with_it<S: ConformanceStore>(s: S) {
    use auth_core::Redeem;
    let (once, expired) = (auth_core::new_jti(), auth_core::new_jti());
    s.insert_tokens(
        &[
            new_row(&once, "user?id=1", "magic_link", 600),
            new_row(&expired, "user?id=1", "magic_link", -600),
        ],
        &[],
    )
    .await
    .unwrap();
    let redeem = |jti: &str, subject: &str, purpose: &str| {
        (jti.to_owned(), subject.to_owned(), purpose.to_owned())
    };
    // Not such a row: nothing spent, nothing inserted.
    for (jti, subject, purpose) in [
        redeem(&once, "user?id=1", "password_reset"),
        redeem(&once, "user?id=2", "magic_link"),
        redeem(&expired, "user?id=1", "magic_link"),
        redeem("nope", "user?id=1", "magic_link"),
    ] {
        let fresh = auth_core::new_jti();
        let r = Redeem {
            jti: &jti,
            subject: &subject,
            purpose: &purpose,
        };
        assert!(
            !s.redeem(&r, &[new_row(&fresh, "user?id=1", "session", 600)], &[])
                .await
                .unwrap()
        );
        assert!(stored(&s, &fresh).await.is_none());
    }
    assert_eq!(stored(&s, &once).await.unwrap().purpose, "magic_link");
    // 16 at once: one spends it and inserts its rows; the others write nothing.
    let minted: Vec<String> = (0..16).map(|_| auth_core::new_jti()).collect();
    let (store, once_jti, jtis) = (s.clone(), once.clone(), minted.clone());
    let won = crate::at_once(16, move |i| {
        let (s, jti, mine) = (store.clone(), once_jti.clone(), jtis[i].clone());
        async move {
            let r = Redeem {
                jti: &jti,
                subject: "user?id=1",
                purpose: "magic_link",
            };
            s.redeem(&r, &[new_row(&mine, "user?id=1", "session", 600)], &[])
                .await
                .unwrap()
        }
    })
    .await;
    assert_eq!(won.iter().filter(|w| **w).count(), 1, "{won:?}");
    for (jti, won) in minted.iter().zip(&won) {
        let found = stored(&s, jti).await;
        assert_eq!(found.is_some(), *won, "only the winner's rows exist");
    }
    assert_eq!(stored(&s, &once).await.unwrap().purpose, "revocation");
}

async fn session_with_refresh<S: ConformanceStore>(s: &S, subject: &str) -> (String, String) {
    let (sid, refresh) = (auth_core::new_jti(), auth_core::new_jti());
    let rows = [
        new_row(&sid, subject, "session", 3600),
        new_row(&refresh, subject, "refresh", 600),
    ];
    s.insert_tokens(&rows, &[]).await.unwrap();
    (sid, refresh)
}

/// The successor every rotation of this suite records.
static SUCCESSOR: std::sync::LazyLock<serde_json::Value> = std::sync::LazyLock::new(
    || serde_json::json!({"access": {"jti": "a"}, "refresh": {"jti": "r", "n": 1}}),
);

fn rotation<'a>(
    old: &'a str,
    sid: &'a str,
    subject: &'a str,
    grace: u64,
    new: &'a [NewTokenRow],
) -> Rotation<'a> {
    Rotation {
        old_jti: old,
        sid,
        subject,
        reuse_grace: Duration::from_secs(grace),
        new_rows: new,
        successor: &SUCCESSOR,
        events: &[],
    }
}

pub async fn rotate_refresh_marks_used_inserts_and_detects_reuse<S: ConformanceStore>(s: S) {
    let subject = "user?id=1";
    let (sid, old) = session_with_refresh(&s, subject).await;
    let next = [new_row(&auth_core::new_jti(), subject, "refresh", 600)];
    let seen = s
        .rotate_refresh(&rotation(&old, &sid, subject, 0, &next))
        .await
        .unwrap();
    assert!(
        seen.rotated && !seen.sibling && seen.session_live,
        "{seen:?}"
    );
    let rows = s.lookup(&old, Some(&sid)).await.unwrap();
    assert_eq!(rows.token.unwrap().purpose, "refresh_used");
    assert!(rows.session.unwrap().is_live_session(subject, Utc::now()));
    let session = stored(&s, &sid).await.unwrap();
    assert!(session.extra_data.unwrap().get("last_seen_at").is_some());
    assert_eq!(stored(&s, &next[0].jti).await.unwrap().purpose, "refresh");
    // Again, grace 0: nothing written, reported as used.
    let again = [new_row(&auth_core::new_jti(), subject, "refresh", 600)];
    let seen = s
        .rotate_refresh(&rotation(&old, &sid, subject, 0, &again))
        .await
        .unwrap();
    assert!(!seen.rotated && !seen.sibling, "{seen:?}");
    assert_eq!(seen.old_purpose.as_deref(), Some("refresh_used"));
    assert!(stored(&s, &again[0].jti).await.is_none());
    // The used row keeps its successor.
    let used = stored(&s, &old).await.unwrap();
    assert_eq!(used.extra_data.unwrap()["successor"], *SUCCESSOR);
    // Within a grace: a sibling, nothing inserted, the used row left as it
    // was, and its successor handed back.
    let sibling = [new_row(&auth_core::new_jti(), subject, "refresh", 600)];
    let seen = s
        .rotate_refresh(&rotation(&old, &sid, subject, 60, &sibling))
        .await
        .unwrap();
    assert!(seen.sibling && !seen.rotated, "{seen:?}");
    assert_eq!(seen.successor.as_ref(), Some(&*SUCCESSOR));
    assert!(
        stored(&s, &sibling[0].jti).await.is_none(),
        "a retry within the grace writes no row"
    );
    assert_eq!(stored(&s, &old).await.unwrap().purpose, "refresh_used");
    // Another subject's token, or an ended session: nothing.
    let (sid2, old2) = session_with_refresh(&s, "user?id=2").await;
    let other = [new_row(&auth_core::new_jti(), subject, "refresh", 600)];
    let seen = s
        .rotate_refresh(&rotation(&old2, &sid2, subject, 0, &other))
        .await
        .unwrap();
    assert!(
        !seen.rotated && !seen.sibling && !seen.session_live,
        "{seen:?}"
    );
    assert_eq!(
        s.end_sessions("user?id=2", Sessions::One(&sid2), &[])
            .await
            .unwrap(),
        1
    );
    let seen = s
        .rotate_refresh(&rotation(&old2, &sid2, "user?id=2", 0, &other))
        .await
        .unwrap();
    assert!(!seen.rotated && !seen.session_live);
    assert!(stored(&s, &other[0].jti).await.is_none());
    assert_eq!(stored(&s, &old2).await.unwrap().purpose, "refresh");
}

/// Every store decides a refresh rotation as `Rotation::decide` does:
/// each combination of session state, old-row state and grace is set up in
/// the store, rotated, and compared with `decide` over the rows as they
/// were: what the store reports and what it wrote. Memory and SQLite call
/// `decide`; PostgreSQL's single statement is held to the same table here.
pub async fn rotate_refresh_follows_the_decision_table<S: ConformanceStore>(s: S) {
    let (me, other) = ("user?id=1", "user?id=2");
    let sessions = ["live", "expired", "missing", "another subject's"];
    let olds = [
        "fresh",
        "expired",
        "used just now",
        "revoked",
        "missing",
        "another subject's",
        "an access token",
    ];
    let mut wrong = Vec::new();
    let (mut rotated, mut siblings) = (0, 0);
    for session in sessions {
        for old in olds {
            for grace in [0, 60] {
                let (sid, old_jti) = (auth_core::new_jti(), auth_core::new_jti());
                let mut rows = Vec::new();
                match session {
                    "live" => rows.push(new_row(&sid, me, "session", 3600)),
                    "expired" => rows.push(new_row(&sid, me, "session", -60)),
                    "another subject's" => rows.push(new_row(&sid, other, "session", 3600)),
                    _ => {}
                }
                match old {
                    "fresh" => rows.push(new_row(&old_jti, me, "refresh", 600)),
                    "expired" => rows.push(new_row(&old_jti, me, "refresh", -60)),
                    "used just now" => rows.push(NewTokenRow {
                        extra_data: Some(json!({ "successor": *SUCCESSOR })),
                        ..new_row(&old_jti, me, "refresh_used", 600)
                    }),
                    "revoked" => rows.push(new_row(&old_jti, me, "revocation", 600)),
                    "another subject's" => rows.push(new_row(&old_jti, other, "refresh", 600)),
                    "an access token" => rows.push(new_row(&old_jti, me, "user", 600)),
                    _ => {}
                }
                s.insert_tokens(&rows, &[]).await.unwrap();
                let before = s.lookup(&old_jti, Some(&sid)).await.unwrap();
                // The old row whole (the grace counts from its `updated_at`).
                let long_ago = chrono::Utc::now() - chrono::Duration::days(1);
                let old_row = s.get_token(&old_jti, None, long_ago).await.unwrap();
                let next = [new_row(&auth_core::new_jti(), me, "refresh", 600)];
                let r = rotation(&old_jti, &sid, me, grace, &next);
                let seen = s.rotate_refresh(&r).await.unwrap();
                let want = r.decide(
                    before.session.as_ref(),
                    old_row.as_ref(),
                    chrono::Utc::now(),
                );
                let case = format!("session {session}, old row {old}, grace {grace}");
                rotated += usize::from(want.rotated);
                siblings += usize::from(want.sibling);
                if seen != want {
                    wrong.push(format!(
                        "{case}: the store saw {seen:?}, decide says {want:?}"
                    ));
                }
                // What it wrote: the new row and the used mark, exactly
                // when the decision rotates.
                let inserted = stored(&s, &next[0].jti).await.is_some();
                let after = stored(&s, &old_jti).await.map(|r| r.purpose);
                let kept = before.token.map(|r| r.purpose);
                let expected = if want.rotated {
                    Some("refresh_used".to_owned())
                } else {
                    kept
                };
                if inserted != want.rotated || after != expected {
                    wrong.push(format!(
                        "{case}: inserted {inserted}, old row {after:?}; decide: rotated {}",
                        want.rotated
                    ));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // The table reaches both writes: a fresh token in a live session, with
    // and without a grace, and a used one within the grace.
    assert_eq!((rotated, siblings), (2, 1));
}

pub async fn concurrent_rotations_of_one_refresh_token_have_one_winner<S: ConformanceStore>(s: S) {
    let subject = "user?id=1";
    let (sid, old) = session_with_refresh(&s, subject).await;
    let (sid, old) = (Arc::new(sid), Arc::new(old));
    let seen = crate::at_once(32, |_| {
        let (s, sid, old) = (s.clone(), sid.clone(), old.clone());
        async move {
            let next = [new_row(&auth_core::new_jti(), subject, "refresh", 600)];
            s.rotate_refresh(&rotation(&old, &sid, subject, 0, &next))
                .await
                .unwrap()
        }
    })
    .await;
    assert!(seen.iter().all(|r| !r.sibling));
    assert_eq!(
        seen.iter().filter(|r| r.rotated).count(),
        1,
        "one rotation wins"
    );
}

pub async fn sessions_are_listed_and_ended_per_subject<S: ConformanceStore>(s: S) {
    let (a, _) = session_with_refresh(&s, "user?id=1").await;
    let (b, _) = session_with_refresh(&s, "user?id=1").await;
    let (c, _) = session_with_refresh(&s, "user?id=1").await;
    let (other, _) = session_with_refresh(&s, "user?id=2").await;
    let expired = auth_core::new_jti();
    s.insert_tokens(&[new_row(&expired, "user?id=1", "session", -5)], &[])
        .await
        .unwrap();
    let ids = |rows: Vec<auth_core::TokenRow>| {
        let mut ids: Vec<String> = rows.into_iter().map(|r| r.jti).collect();
        ids.sort();
        ids
    };
    let mut want = vec![a.clone(), b.clone(), c.clone()];
    want.sort();
    assert_eq!(
        ids(s.list_sessions("user?id=1", Utc::now()).await.unwrap()),
        want
    );
    let end = async |which| s.end_sessions("user?id=1", which, &[]).await.unwrap();
    // Another subject's session is not ended by this subject.
    assert_eq!(end(Sessions::One(&other)).await, 0);
    assert_eq!(end(Sessions::One(&a)).await, 1);
    assert_eq!(end(Sessions::One(&a)).await, 0);
    assert_eq!(end(Sessions::AllBut(&b)).await, 2, "c and the expired one");
    assert_eq!(
        ids(s.list_sessions("user?id=1", Utc::now()).await.unwrap()),
        vec![b.clone()]
    );
    let ended = stored(&s, &a).await.unwrap();
    assert_eq!(ended.purpose, "revocation");
    assert_eq!(end(Sessions::All).await, 1);
    assert_eq!(
        s.list_sessions("user?id=2", Utc::now())
            .await
            .unwrap()
            .len(),
        1
    );
}

pub async fn registration_writes_user_and_rows_together<S: ConformanceStore>(s: S) {
    let user = User::new("ada@example.com");
    let rows = [new_row(
        &auth_core::new_jti(),
        &auth_core::UserResource::subject(&user),
        "session",
        600,
    )];
    s.insert_user_with_tokens(&user, &rows, &[]).await.unwrap();
    assert!(stored(&s, &rows[0].jti).await.is_some());
    // A taken identity: neither the user nor its rows.
    let twin = User::new("ada@example.com");
    let more = [new_row(
        &auth_core::new_jti(),
        &auth_core::UserResource::subject(&twin),
        "session",
        600,
    )];
    let e = s.insert_user_with_tokens(&twin, &more, &[]).await;
    assert!(matches!(e, Err(InsertUserError::IdentityTaken)));
    assert!(stored(&s, &more[0].jti).await.is_none());
    let nobody: Option<User> = s.get_user(&twin.id).await.unwrap();
    assert!(nobody.is_none());
    // A clashing row: neither the user nor its rows.
    let third = User::new("bob@example.com");
    let clash = [new_row(&rows[0].jti, "user?id=x", "session", 600)];
    assert!(
        s.insert_user_with_tokens(&third, &clash, &[])
            .await
            .is_err()
    );
    let nobody: Option<User> = s.get_user(&third.id).await.unwrap();
    assert!(nobody.is_none());
}

pub async fn authenticate_lookup_returns_both_rows_and_the_user<S: ConformanceStore>(s: S) {
    let user = User::new("ada@example.com");
    s.insert_user(&user).await.unwrap();
    let subject = auth_core::UserResource::subject(&user);
    let (sid, token) = (auth_core::new_jti(), auth_core::new_jti());
    s.insert_tokens(
        &[
            new_row(&sid, &subject, "session", 600),
            new_row(&token, &subject, "user", 600),
        ],
        &[],
    )
    .await
    .unwrap();
    let (rows, found) = s
        .authenticate_lookup(&user.id, &token, Some(&sid))
        .await
        .unwrap();
    assert_eq!(found, Some(user.clone()));
    let facts = rows.token.unwrap();
    assert_eq!(
        (facts.subject.as_str(), facts.purpose.as_str()),
        (subject.as_str(), "user")
    );
    assert!(facts.expires_at > chrono::Utc::now() && facts.created_at <= chrono::Utc::now());
    assert_eq!(facts.extra_data, Some(json!({"k": token})));
    assert_eq!(rows.session.unwrap().jti, sid);
    // Unknown token and session, unknown user: one answer, all absent.
    let stranger = User::new("nobody@example.com");
    let (rows, found) = s
        .authenticate_lookup(&stranger.id, "nope", Some("nope"))
        .await
        .unwrap();
    assert_eq!((rows, found), (Rows::default(), None));
    // Without a sid, no session is read.
    let (rows, _) = s.authenticate_lookup(&user.id, &token, None).await.unwrap();
    assert!(rows.session.is_none() && rows.token.is_some());
}

pub async fn insert_token_refuses_an_existing_jti<S: ConformanceStore>(s: S) {
    let row = new_row(&auth_core::new_jti(), "user?id=1", "user", 600);
    s.insert_token(&row).await.unwrap();
    let mut again = row.clone();
    again.purpose = "sign_in".into();
    assert!(s.insert_token(&again).await.is_err());
    assert_eq!(stored(&s, &row.jti).await.unwrap().purpose, "user");
}

fn new_key(subject: &str, expires_in: i64) -> auth_core::NewApiKey {
    auth_core::NewApiKey {
        id: auth_core::new_jti(),
        subject: subject.into(),
        user_key: "1".into(),
        name: "ci".into(),
        scopes: vec!["reports:read".into()],
        secret_hash: "ab".repeat(32),
        expires_at: at(expires_in),
    }
}

pub async fn api_keys_are_capped_listed_revoked_and_touched<S: ConformanceStore>(s: S) {
    let mine: Vec<_> = (0..3).map(|_| new_key("user?id=1", 600)).collect();
    for k in &mine {
        assert!(s.insert_api_key(k, 3, &[]).await.unwrap());
    }
    // An expired key counts for nothing; another subject's neither.
    let expired = new_key("user?id=1", -5);
    assert!(
        !s.insert_api_key(&new_key("user?id=1", 600), 3, &[])
            .await
            .unwrap(),
        "the cap"
    );
    assert!(
        s.insert_api_key(&new_key("user?id=2", 600), 3, &[])
            .await
            .unwrap()
    );
    assert!(s.insert_api_key(&expired, 4, &[]).await.unwrap());
    assert!(
        s.insert_api_key(&new_key("user?id=1", 600), 4, &[])
            .await
            .unwrap()
    );

    let row = s.get_api_key(&mine[0].id).await.unwrap().unwrap();
    assert_eq!(
        (row.subject.as_str(), row.name.as_str(), row.scopes.clone()),
        ("user?id=1", "ci", vec!["reports:read".to_owned()])
    );
    assert_eq!(
        (row.expires_at, row.last_used_at, row.revoked),
        (mine[0].expires_at, None, false)
    );
    assert_eq!(row.secret_hash, mine[0].secret_hash);
    assert!(s.get_api_key("no-such-id").await.unwrap().is_none());
    let listed = s.list_api_keys("user?id=1", Utc::now()).await.unwrap();
    assert_eq!(listed.len(), 4, "live keys only");
    assert!(
        listed
            .windows(2)
            .all(|w| w[0].created_at <= w[1].created_at)
    );
    assert!(listed.iter().all(|k| k.id != expired.id));

    // Revoking: only the owner's, only once.
    assert!(
        !s.revoke_api_key("user?id=2", &mine[0].id, &[])
            .await
            .unwrap()
    );
    assert!(
        s.revoke_api_key("user?id=1", &mine[0].id, &[])
            .await
            .unwrap()
    );
    assert!(
        !s.revoke_api_key("user?id=1", &mine[0].id, &[])
            .await
            .unwrap()
    );
    assert!(s.get_api_key(&mine[0].id).await.unwrap().unwrap().revoked);
    assert_eq!(
        s.list_api_keys("user?id=1", Utc::now())
            .await
            .unwrap()
            .len(),
        3
    );
    // A revoked key frees its place under the cap.
    assert!(
        s.insert_api_key(&new_key("user?id=1", 600), 4, &[])
            .await
            .unwrap()
    );

    // Uses: the later time wins, unknown ids are ignored.
    let (early, late) = (at(-60), at(-10));
    s.record_api_key_uses(&[(mine[1].id.clone(), late), ("nope".into(), late)])
        .await
        .unwrap();
    s.record_api_key_uses(&[(mine[1].id.clone(), early)])
        .await
        .unwrap();
    let used = s.get_api_key(&mine[1].id).await.unwrap().unwrap();
    assert_eq!(used.last_used_at, Some(late));

    // Every key not yet revoked, the expired one too.
    assert_eq!(s.revoke_api_keys("user?id=1", &[]).await.unwrap(), 5);
    assert!(
        s.list_api_keys("user?id=1", Utc::now())
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        s.list_api_keys("user?id=2", Utc::now())
            .await
            .unwrap()
            .len(),
        1
    );
}

/// Concurrent creations for one user never pass the cap: of 12 at once
/// with room for 5, exactly 5 are stored (five trials).
pub async fn concurrent_api_key_creations_never_pass_the_cap<S: ConformanceStore>(s: S) {
    for trial in 0..5 {
        let subject = format!("user?id=cap{trial}");
        let results = crate::at_once(12, |_| {
            let (s, key) = (s.clone(), new_key(&subject, 600));
            async move { s.insert_api_key(&key, 5, &[]).await.unwrap() }
        })
        .await;
        assert_eq!(results.iter().filter(|&&ok| ok).count(), 5, "trial {trial}");
        assert_eq!(
            s.list_api_keys(&subject, Utc::now()).await.unwrap().len(),
            5
        );
    }
}

pub async fn dead_api_keys_are_deleted_and_live_ones_kept<S: ConformanceStore>(s: S) {
    let subject = "user?id=dead";
    let (live, revoked, expired) = (
        new_key(subject, 600),
        new_key(subject, 600),
        new_key(subject, 1),
    );
    for k in [&live, &revoked, &expired] {
        assert!(s.insert_api_key(k, 10, &[]).await.unwrap());
    }
    assert!(s.revoke_api_key(subject, &revoked.id, &[]).await.unwrap());
    assert_eq!(
        auth_core::expunge_dead_api_keys(&s).await.unwrap(),
        1,
        "revoked"
    );
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert_eq!(s.delete_dead_api_keys(100).await.unwrap(), 1, "expired");
    assert_eq!(s.delete_dead_api_keys(100).await.unwrap(), 0);
    assert!(s.get_api_key(&live.id).await.unwrap().is_some());
    assert!(s.get_api_key(&revoked.id).await.unwrap().is_none());
    assert!(s.get_api_key(&expired.id).await.unwrap().is_none());
}

pub async fn events_are_appended_listed_newest_first_and_deleted_when_old<S: ConformanceStore>(
    s: S,
) {
    use auth_core::{AuditEvent, EventKind, Outcome};
    let t0 = Utc::now() - chrono::Duration::hours(2);
    let event = |kind, subject: Option<&str>, minutes: i64| AuditEvent {
        kind,
        at: t0 + chrono::Duration::minutes(minutes),
        subject: subject.map(str::to_owned),
        session: Some("s1".into()),
        tenant: Some("acme".into()),
        ip: Some("203.0.113.0/24".into()),
        user_agent: None,
        outcome: Outcome::Success,
    };
    let (a, b) = (Some("user?id=a"), Some("user?id=b"));
    let mut failed = event(EventKind::SignInFailed, a, 30);
    failed.outcome = Outcome::Failure;
    failed.session = None;
    failed.tenant = None;
    let batch = [
        event(EventKind::Registered, a, 0),
        event(EventKind::SignedIn, a, 10),
        event(EventKind::SignedIn, b, 20),
        failed.clone(),
        event(EventKind::PasswordResetRequested, None, 40),
    ];
    s.insert_events(&batch).await.unwrap();
    let listed = s.list_events("user?id=a", 10).await.unwrap();
    assert_eq!(
        listed.iter().map(|e| e.kind).collect::<Vec<_>>(),
        [
            EventKind::SignInFailed,
            EventKind::SignedIn,
            EventKind::Registered
        ],
        "newest first, only the subject's"
    );
    // Every field round-trips (times to the store's precision).
    assert_eq!(listed[0].outcome, Outcome::Failure);
    assert_eq!(
        (listed[0].session.as_deref(), listed[1].session.as_deref()),
        (None, Some("s1"))
    );
    assert_eq!(listed[1].ip.as_deref(), Some("203.0.113.0/24"));
    assert_eq!(
        (listed[0].tenant.as_deref(), listed[1].tenant.as_deref()),
        (None, Some("acme"))
    );
    assert!((listed[0].at - failed.at).num_milliseconds().abs() < 1);
    assert_eq!(s.list_events("user?id=a", 2).await.unwrap().len(), 2);
    assert!(s.list_events("user?id=c", 10).await.unwrap().is_empty());
    // Older than t0 + 15 minutes: the first two of a.
    let cut = t0 + chrono::Duration::minutes(15);
    assert_eq!(
        s.delete_events_before(cut, 1).await.unwrap(),
        1,
        "at most the limit"
    );
    assert_eq!(s.delete_events_before(cut, 100).await.unwrap(), 1);
    assert_eq!(s.list_events("user?id=a", 10).await.unwrap().len(), 1);
    assert_eq!(s.list_events("user?id=b", 10).await.unwrap().len(), 1);
    // Another token table's events are others.
    assert!(
        s.bound_to("other_tokens")
            .list_events("user?id=b", 10)
            .await
            .unwrap()
            .is_empty()
    );
}

/// Whether `key` is locked now, and until when.
async fn locked_until<S: ConformanceStore>(s: &S, key: &str) -> Option<chrono::DateTime<Utc>> {
    let found = s.locked_attempts(&[key.to_owned()]).await.unwrap();
    assert!(found.len() <= 1, "{found:?}");
    found.first().map(|(k, until)| {
        assert_eq!(k, key);
        *until
    })
}

async fn fail<S: ConformanceStore>(s: &S, key: &str, max_failures: u32, window: Duration) {
    let failure = auth_core::Failure { key, max_failures };
    s.record_failures(&[failure], window, Duration::from_secs(600), &[])
        .await
        .unwrap();
}

pub async fn failures_lock_at_their_max_and_clear<S: ConformanceStore>(s: S) {
    let (a, b, c) = ("user:identity:a", "user:ip:b", "user:identity:c");
    let minute = Duration::from_secs(60);
    // Two counters in one write, each with its own max.
    let both = [
        auth_core::Failure {
            key: a,
            max_failures: 3,
        },
        auth_core::Failure {
            key: b,
            max_failures: 1,
        },
    ];
    s.record_failures(&both, minute, Duration::from_secs(600), &[])
        .await
        .unwrap();
    assert_eq!(locked_until(&s, a).await, None, "one failure of three");
    let until = locked_until(&s, b).await.expect("one of one locks");
    let in_ten_minutes = Utc::now() + chrono::Duration::minutes(10);
    assert!((until - in_ten_minutes).num_seconds().abs() < 5, "{until}");
    fail(&s, a, 3, minute).await;
    assert_eq!(locked_until(&s, a).await, None, "two of three");
    fail(&s, a, 3, minute).await;
    assert!(locked_until(&s, a).await.is_some(), "three of three");
    // Asked together, only the locked ones answer; unknown keys are none.
    let mut locked = s
        .locked_attempts(&[a.to_owned(), b.to_owned(), c.to_owned()])
        .await
        .unwrap();
    locked.sort();
    assert_eq!(
        locked.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
        [a, b]
    );
    // Cleared: unlocked, and counting starts again.
    s.clear_attempts(&[a.to_owned()]).await.unwrap();
    assert_eq!(locked_until(&s, a).await, None);
    fail(&s, a, 3, minute).await;
    assert_eq!(locked_until(&s, a).await, None, "a fresh count");
    assert!(locked_until(&s, b).await.is_some(), "another counter kept");
    // Another token table's counters are others.
    let other = s.bound_to("other_tokens");
    assert_eq!(locked_until(&other, b).await, None);
}

pub async fn a_window_that_passed_starts_the_count_again<S: ConformanceStore>(s: S) {
    let key = "user:identity:window";
    let window = Duration::from_millis(700);
    fail(&s, key, 3, window).await;
    fail(&s, key, 3, window).await;
    tokio::time::sleep(Duration::from_millis(900)).await;
    fail(&s, key, 3, window).await;
    assert_eq!(locked_until(&s, key).await, None, "the window passed: one");
    fail(&s, key, 3, window).await;
    fail(&s, key, 3, window).await;
    assert!(
        locked_until(&s, key).await.is_some(),
        "three within a window"
    );
}

pub async fn concurrent_failures_are_all_counted<S: ConformanceStore>(s: S) {
    for trial in 0..3 {
        let (exact, one_short) = (
            format!("user:ip:exact{trial}"),
            format!("user:ip:short{trial}"),
        );
        crate::at_once(16, |_| {
            let (s, exact, one_short) = (s.clone(), exact.clone(), one_short.clone());
            async move {
                let failures = [
                    auth_core::Failure {
                        key: &exact,
                        max_failures: 16,
                    },
                    auth_core::Failure {
                        key: &one_short,
                        max_failures: 17,
                    },
                ];
                s.record_failures(
                    &failures,
                    Duration::from_secs(60),
                    Duration::from_secs(60),
                    &[],
                )
                .await
                .unwrap();
            }
        })
        .await;
        assert!(
            locked_until(&s, &exact).await.is_some(),
            "trial {trial}: 16 of 16"
        );
        assert_eq!(
            locked_until(&s, &one_short).await,
            None,
            "trial {trial}: 16 of 17"
        );
    }
}

pub async fn expired_counters_are_deleted_and_live_ones_kept<S: ConformanceStore>(s: S) {
    let short = auth_core::Failure {
        key: "user:ip:short",
        max_failures: 1,
    };
    let long = auth_core::Failure {
        key: "user:ip:long",
        max_failures: 1,
    };
    let second = Duration::from_millis(500);
    s.record_failures(&[short], second, second, &[])
        .await
        .unwrap();
    s.record_failures(
        &[long],
        Duration::from_secs(60),
        Duration::from_secs(60),
        &[],
    )
    .await
    .unwrap();
    assert_eq!(s.delete_expired_attempts(100).await.unwrap(), 0);
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(locked_until(&s, short.key).await, None, "the lock passed");
    assert_eq!(auth_core::expunge_expired_attempts(&s).await.unwrap(), 1);
    assert_eq!(s.delete_expired_attempts(100).await.unwrap(), 0);
    assert!(locked_until(&s, long.key).await.is_some());
}

/// A write that takes `events` commits them with itself, and a write that
/// does not take effect (or fails) leaves none: every such write, both
/// ways.
pub async fn events_commit_with_their_write_or_not_at_all<S: ConformanceStore>(s: S) {
    use auth_core::{AuditEvent, EventKind, Failure, Outcome, Redeem};
    let ada = User::new("ada@example.com");
    let subject = auth_core::UserResource::subject(&ada);
    let event = |kind| {
        [AuditEvent {
            kind,
            at: Utc::now(),
            subject: Some(subject.clone()),
            session: Some("s1".into()),
            tenant: None,
            ip: None,
            user_agent: None,
            outcome: Outcome::Success,
        }]
    };
    let kinds = async || {
        let mut listed = s.list_events(&subject, 100).await.unwrap();
        listed.reverse();
        listed.into_iter().map(|e| e.kind).collect::<Vec<_>>()
    };
    let redeem = |jti| Redeem {
        jti,
        subject: &subject,
        purpose: "confirm",
    };
    let (sid, refresh) = (auth_core::new_jti(), auth_core::new_jti());

    // Taking effect: the event is stored with the write, nothing flushed.
    let rows = [new_row(&sid, &subject, "session", 3600)];
    let e = event(EventKind::Registered);
    s.insert_user_with_tokens(&ada, &rows, &e).await.unwrap();
    let rows = [new_row(&refresh, &subject, "refresh", 600)];
    s.insert_tokens(&rows, &event(EventKind::SignedIn))
        .await
        .unwrap();
    let next = [new_row(&auth_core::new_jti(), &subject, "refresh", 600)];
    let e = event(EventKind::Refreshed);
    let seen = s
        .rotate_refresh(&Rotation {
            events: &e,
            ..rotation(&refresh, &sid, &subject, 0, &next)
        })
        .await
        .unwrap();
    assert!(seen.rotated);
    let (link, confirm) = (auth_core::new_jti(), auth_core::new_jti());
    let rows = [
        new_row(&link, &subject, "confirm", 600),
        new_row(&confirm, &subject, "confirm", 600),
    ];
    s.insert_tokens(&rows, &[]).await.unwrap();
    let e = event(EventKind::SignedIn);
    assert!(s.redeem(&redeem(&link), &[], &e).await.unwrap());
    let mut fields = serde_json::Map::new();
    fields.insert("email".into(), json!("ada@example.org"));
    let e = event(EventKind::EmailChanged);
    assert!(
        s.apply_redeemed(&ada.id, &fields, &redeem(&confirm), &e)
            .await
            .unwrap()
    );
    let failure = Failure {
        key: "user:identity:events",
        max_failures: 5,
    };
    let minute = Duration::from_secs(60);
    let e = event(EventKind::SignInFailed);
    s.record_failures(&[failure], minute, minute, &e)
        .await
        .unwrap();
    let key = new_key(&subject, 600);
    let e = event(EventKind::ApiKeyCreated);
    assert!(s.insert_api_key(&key, 5, &e).await.unwrap());
    let e = event(EventKind::ApiKeyRevoked);
    assert!(s.revoke_api_key(&subject, &key.id, &e).await.unwrap());
    assert!(
        s.insert_api_key(&new_key(&subject, 600), 5, &[])
            .await
            .unwrap()
    );
    let e = event(EventKind::ApiKeyRevoked);
    assert_eq!(s.revoke_api_keys(&subject, &e).await.unwrap(), 1);
    let e = event(EventKind::SignedOut);
    let revocation = new_row(&auth_core::new_jti(), &subject, "revocation", 600);
    assert!(s.insert_revocation(&revocation, &e).await.unwrap());
    let e = event(EventKind::SessionEnded);
    assert_eq!(
        s.end_sessions(&subject, Sessions::One(&sid), &e)
            .await
            .unwrap(),
        1
    );
    let all = PurposeFilter::all();
    let keep = Duration::from_secs(60);
    for api_keys in [false, true] {
        let revoke = RevokeAll {
            api_keys,
            ..RevokeAll::tokens(&subject, &all, keep)
        };
        let e = event(EventKind::LoggedOutEverywhere);
        s.revoke_all_for_subject(&revoke, &e).await.unwrap();
    }
    let taken = [
        EventKind::Registered,
        EventKind::SignedIn,
        EventKind::Refreshed,
        EventKind::SignedIn,
        EventKind::EmailChanged,
        EventKind::SignInFailed,
        EventKind::ApiKeyCreated,
        EventKind::ApiKeyRevoked,
        EventKind::ApiKeyRevoked,
        EventKind::SignedOut,
        EventKind::SessionEnded,
        EventKind::LoggedOutEverywhere,
        EventKind::LoggedOutEverywhere,
    ];
    assert_eq!(kinds().await, taken);

    // Not taking effect, or failing: no event.
    let twin = User::new("ada@example.org");
    let e = event(EventKind::Registered);
    let refused = s.insert_user_with_tokens(&twin, &[], &e).await;
    assert!(matches!(refused, Err(InsertUserError::IdentityTaken)));
    let clash = [new_row(&sid, &subject, "session", 600)];
    let e = event(EventKind::SignedIn);
    assert!(s.insert_tokens(&clash, &e).await.is_err());
    let e = event(EventKind::Refreshed);
    let seen = s
        .rotate_refresh(&Rotation {
            events: &e,
            ..rotation(&refresh, &sid, &subject, 0, &next)
        })
        .await
        .unwrap();
    assert!(!seen.rotated, "used, and its session ended");
    let e = event(EventKind::SignedIn);
    assert!(!s.redeem(&redeem(&link), &[], &e).await.unwrap());
    let e = event(EventKind::EmailChanged);
    let spent = redeem(&confirm);
    let spent = s.apply_redeemed(&ada.id, &fields, &spent, &e).await;
    assert!(!spent.unwrap());
    let e = event(EventKind::ApiKeyCreated);
    assert!(
        !s.insert_api_key(&new_key(&subject, 600), 0, &e)
            .await
            .unwrap()
    );
    let e = event(EventKind::ApiKeyRevoked);
    assert!(!s.revoke_api_key(&subject, &key.id, &e).await.unwrap());
    assert_eq!(s.revoke_api_keys(&subject, &e).await.unwrap(), 0);
    let e = event(EventKind::SessionEnded);
    assert_eq!(
        s.end_sessions(&subject, Sessions::One(&sid), &e)
            .await
            .unwrap(),
        0
    );
    assert_eq!(kinds().await, taken, "nothing more");
}

/// Expands to one `#[tokio::test]` per conformance case, each on a fresh
/// [`Fixture`] from `$make` (an async expression).
#[macro_export]
macro_rules! conformance_suite {
    ($make:expr) => {
        $crate::conformance_suite!(@cases $make;
            store_and_get_token,
            get_token_hides_expired_rows,
            store_token_upserts_but_never_resurrects_a_revocation,
            revoke_token_twice_is_already_revoked,
            revoke_token_flips_a_stored_row,
            concurrent_revokes_have_exactly_one_winner,
            revoke_jti_without_the_token,
            revoke_all_stored_for_subject_honours_filters,
            read_and_expunge_only_expired_rows,
            confirmation_changes_round_trip,
            users_by_key_and_identity,
            concurrent_registrations_of_one_identity_have_one_winner,
            expunger_runs_on_its_interval_and_stops_on_shutdown,
            expunge_100_000_expired_rows_beside_live_ones,
            two_expungers_at_once_remove_each_row_once,
            insert_tokens_is_all_or_nothing,
            rotate_refresh_marks_used_inserts_and_detects_reuse,
            rotate_refresh_follows_the_decision_table,
            concurrent_rotations_of_one_refresh_token_have_one_winner,
            sessions_are_listed_and_ended_per_subject,
            registration_writes_user_and_rows_together,
            authenticate_lookup_returns_both_rows_and_the_user,
            insert_token_refuses_an_existing_jti,
            redeem_spends_once_and_inserts_with_it,
            api_keys_are_capped_listed_revoked_and_touched,
            concurrent_api_key_creations_never_pass_the_cap,
            dead_api_keys_are_deleted_and_live_ones_kept,
            events_are_appended_listed_newest_first_and_deleted_when_old,
            failures_lock_at_their_max_and_clear,
            a_window_that_passed_starts_the_count_again,
            concurrent_failures_are_all_counted,
            expired_counters_are_deleted_and_live_ones_kept,
            rows_are_bound_to_their_tenant_and_revoked_by_it,
            events_commit_with_their_write_or_not_at_all,
        );
    };
    (@cases $make:expr; $($case:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $case() {
            let fixture = $make.await;
            $crate::conformance::$case($crate::conformance::Fixture::store(&fixture)).await;
        }
    )*};
}
