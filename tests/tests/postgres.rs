//! Postgres-only behaviour: schema migration (idempotent, concurrent), SQL
//! printing, user tables from the derive's metadata.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use auth_core::{Authenticated, Purpose, TokenFacts, UserStore, token_resource};
use auth_postgres::{PgStore, user_table_sql};
use serde::{Deserialize, Serialize};

#[token_resource(table = "session_tokens")]
pub struct SessionToken;

#[derive(Authenticated, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[authentication(
    subject_name = "account",
    session_identifier = "jti",
    tokens(token_resource = SessionToken, signing_secret = "s-0123456789abcdef0123456789abcdef"),
    strategies(password(identity_field = "login")),
)]
pub struct Account {
    #[authentication(primary_key)]
    pub handle: String,
    pub login: String,
    pub hashed_password: String,
    pub age: Option<i32>,
    pub tags: Vec<String>,
    pub joined: chrono::DateTime<chrono::Utc>,
}

#[test]
fn the_user_table_comes_from_the_derive() {
    let sql = user_table_sql::<Account>("accounts").unwrap();
    assert_eq!(
        sql,
        "CREATE TABLE IF NOT EXISTS \"accounts\" (\n    \"handle\" text PRIMARY KEY,\n    \"login\" text NOT NULL UNIQUE,\n    \"hashed_password\" text NOT NULL,\n    \"age\" integer,\n    \"tags\" jsonb NOT NULL,\n    \"joined\" timestamptz NOT NULL\n);\n\
CREATE UNIQUE INDEX IF NOT EXISTS \"accounts_login_lower_key\" ON \"accounts\" (lower(\"login\"));\n"
    );
    let tokens = PgStore::token_table_sql("tokens").unwrap();
    for part in [
        "jti text PRIMARY KEY",
        "subject text NOT NULL",
        "extra_data jsonb",
        "(expires_at)",
        "(subject, purpose)",
    ] {
        assert!(tokens.contains(part), "{part} in {tokens}");
    }
    assert!(
        !tokens.contains("REFERENCES"),
        "no cascading foreign key: revocations outlive users"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn migrate_is_idempotent_and_safe_from_several_nodes_at_once() {
    let db = auth_tests::pg::fresh_db().await;
    // A schema-qualified table, in this test's own schema.
    let table = format!("{}.session_tokens", db.schema);
    let nodes: Vec<_> = (0..6)
        .map(|_| {
            let (store, table) = (db.store.clone(), table.clone());
            tokio::spawn(async move {
                let bound = store.clone().with_token_table(&table)?;
                bound.migrate().await?;
                store.migrate().await
            })
        })
        .collect();
    for n in nodes {
        n.await.unwrap().unwrap();
    }
    let bound = db.store.clone().with_token_table(&table).unwrap();
    bound.migrate().await.unwrap();
    let version: i32 =
        sqlx::query_scalar("SELECT version FROM auth_postgres_schema WHERE object = $1")
            .bind(format!("token_table:{table}"))
            .fetch_one(db.store.pool())
            .await
            .unwrap();
    assert_eq!(
        version, 5,
        "the token table, its API keys, attempt counters, events and tenants"
    );
    let indexes: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_indexes WHERE schemaname = $1 AND tablename = 'session_tokens'",
    )
    .bind(&db.schema)
    .fetch_one(db.store.pool())
    .await
    .unwrap();
    assert_eq!(
        indexes, 4,
        "primary key, expires_at, (subject, purpose), (tenant, subject)"
    );

    // The schema-qualified token table works end to end.
    let res = auth_core::TokenResourceConfig {
        table: table.clone().into(),
        ..auth_core::TokenResourceConfig::default()
    };
    let f = TokenFacts {
        jti: "j1".into(),
        subject: "account?handle=neo".into(),
        expires_at: chrono::Utc::now() + chrono::Duration::hours(1),
        tenant: None,
    };
    auth_core::token_actions::store_token(&bound, &res, &f, &Purpose::USER, None)
        .await
        .unwrap();
    assert!(
        auth_core::token_actions::get_token(&bound, &res, "j1", None)
            .await
            .unwrap()
            .is_some()
    );
    // The generated action names the same table through the search path.
    let unqualified = db.store.clone().with_token_table("session_tokens").unwrap();
    assert!(
        SessionToken::get_token(&unqualified, "j1", None)
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn derived_users_round_trip_through_their_columns() {
    let db = auth_tests::pg::fresh_db().await;
    let store = db
        .store
        .clone()
        .with_user_table("account", "accounts")
        .unwrap();
    store.create_user_table::<Account>().await.unwrap();
    let neo = Account {
        handle: "neo".into(),
        login: "neo@example.com".into(),
        hashed_password: "x".into(),
        age: None,
        tags: vec!["a".into(), "b c".into()],
        joined: chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
    };
    store.insert_user(&neo).await.unwrap();
    let got: Option<Account> = store.get_user(&"neo".to_owned()).await.unwrap();
    assert_eq!(got.as_ref(), Some(&neo));
    let got: Option<Account> = store.get_user_by_identity("neo@example.com").await.unwrap();
    assert_eq!(got.as_ref(), Some(&neo));
    let mut older = neo.clone();
    older.age = Some(40);
    assert!(store.update_user(&older).await.unwrap());
    let got: Option<Account> = store.get_user(&"neo".to_owned()).await.unwrap();
    assert_eq!(got.unwrap().age, Some(40));
    let tags: serde_json::Value = sqlx::query_scalar("SELECT tags FROM accounts")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(tags, serde_json::json!(["a", "b c"]));
    assert!(
        PgStore::new(store.pool().clone())
            .with_user_table("account", "bad name")
            .is_err()
    );
}

/// A token table PostgreSQL cannot hold is refused when the store is
/// bound to it, and a store bound to another table than the resource's
/// when the runtime is built: not with a 503 at the first request.
#[tokio::test]
async fn a_bad_or_unbound_token_table_fails_at_start_up() {
    let db = auth_tests::pg::fresh_db().await;
    let e = db
        .store
        .clone()
        .with_token_table("bad name; drop table users")
        .unwrap_err();
    assert!(
        matches!(&e, auth_core::Error::Config(m) if m.contains("table name")),
        "{e}"
    );
    let mut other = auth_tests::settings(true);
    other.token_resource.table = "other_tokens".into();
    let e = auth_core::Auth::<auth_tests::User, _>::from_settings(other.clone(), db.store.clone())
        .unwrap_err();
    assert!(
        matches!(&e, auth_core::Error::Config(m) if m.contains(".with_token_table(\"other_tokens\")")),
        "{e}"
    );
    let bound = db.store.clone().with_token_table("other_tokens").unwrap();
    assert!(auth_core::Auth::<auth_tests::User, _>::from_settings(other, bound).is_ok());
}

/// One expunger per token table at a time: while another node holds the
/// table's expunge lock (mid-batch), a batch here deletes nothing and
/// returns at once instead of waiting; once the lock is free it deletes.
/// Same-named tables in other schemas do not share the lock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expunger_skips_the_batch_another_node_is_running_without_waiting() {
    use auth_core::{TokenResourceConfig, TokenStore};
    let db = auth_tests::pg::fresh_db().await;
    let other_schema = auth_tests::pg::fresh_db().await;
    for store in [&db.store, &other_schema.store] {
        sqlx::raw_sql(
            "INSERT INTO tokens (jti, subject, expires_at, purpose) \
             SELECT 'x' || g, 'user?id=1', now() - interval '1 hour', 'user' FROM generate_series(1, 100) g",
        )
        .execute(store.pool())
        .await
        .unwrap();
    }
    // Another node, mid-batch: it holds this table's lock in an open transaction.
    let mut node = db.store.pool().begin().await.unwrap();
    let got: bool = sqlx::query_scalar(
        "SELECT pg_try_advisory_xact_lock(hashtext('auth_postgres_expunge:' || '\"tokens\"'::regclass::oid::text))",
    )
    .fetch_one(&mut *node)
    .await
    .unwrap();
    assert!(got);
    let from = chrono::DateTime::<chrono::Utc>::from_timestamp(0, 0).unwrap();
    let started = std::time::Instant::now();
    let batch = db.store.delete_expired(from, 1_000).await.unwrap();
    assert_eq!(batch.deleted, 0, "skipped while the other node runs");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(1),
        "and did not wait"
    );
    // The same table name in another schema is another lock.
    let elsewhere = other_schema
        .store
        .delete_expired(from, 1_000)
        .await
        .unwrap();
    assert_eq!(elsewhere.deleted, 100);
    node.rollback().await.unwrap();
    let res = TokenResourceConfig::new("tokens");
    assert_eq!(
        auth_core::token_actions::expunge_expired(&db.store, &res)
            .await
            .unwrap(),
        100
    );
}

/// A database migrated before API keys (schema version 1, with rows in it)
/// gains the key table at the next `migrate`, its rows untouched.
#[tokio::test]
async fn a_version_1_database_gains_the_api_key_table_and_keeps_its_rows() {
    use auth_core::{ApiKeyStore, NewApiKey, TokenStore};
    let db = auth_tests::pg::fresh_db().await;
    // A token table of its own, at version 1 as released, with a row.
    sqlx::raw_sql(
        "CREATE TABLE legacy (jti text PRIMARY KEY, subject text NOT NULL, \
         expires_at timestamptz NOT NULL, purpose text NOT NULL, extra_data jsonb, \
         created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now()); \
         CREATE INDEX legacy_expires_at_idx ON legacy (expires_at); \
         CREATE INDEX legacy_subject_purpose_idx ON legacy (subject, purpose); \
         INSERT INTO auth_postgres_schema (object, version) VALUES ('token_table:legacy', 1); \
         INSERT INTO legacy (jti, subject, expires_at, purpose) \
         VALUES ('old', 'user?id=1', now() + interval '1 day', 'revocation');",
    )
    .execute(db.store.pool())
    .await
    .unwrap();
    let store = db.store.clone().with_token_table("legacy").unwrap();
    store.migrate().await.unwrap();
    let version: i32 = sqlx::query_scalar(
        "SELECT version FROM auth_postgres_schema WHERE object = 'token_table:legacy'",
    )
    .fetch_one(store.pool())
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
}

/// A database at schema version 2 (token and API-key rows in it) gains the
/// failed-attempt counters and the event table at the next `migrate`, its
/// rows untouched.
#[tokio::test]
async fn a_version_2_database_gains_the_attempt_counters_and_keeps_its_rows() {
    use auth_core::{ApiKeyStore, AttemptStore, Failure, TokenStore};
    let db = auth_tests::pg::fresh_db().await;
    // Steps 1 and 2 as released, recorded as version 2, with a row in each.
    let steps = auth_postgres::PgStore::token_table_sql("legacy2").unwrap();
    let step_3 = steps
        .find("CREATE TABLE IF NOT EXISTS \"legacy2_attempts\"")
        .unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "{} \
         INSERT INTO auth_postgres_schema (object, version) VALUES ('token_table:legacy2', 2); \
         INSERT INTO legacy2 (jti, subject, expires_at, purpose) \
         VALUES ('old', 'user?id=1', now() + interval '1 day', 'revocation'); \
         INSERT INTO legacy2_api_keys (id, subject, user_key, name, scopes, secret_hash, expires_at) \
         VALUES ('k0', 'user?id=1', '1', 'kept', '[]', '', now() + interval '1 day');",
        &steps[..step_3]
    )))
    .execute(db.store.pool())
    .await
    .unwrap();
    let store = db.store.clone().with_token_table("legacy2").unwrap();
    store.migrate().await.unwrap();
    let version: i32 = sqlx::query_scalar(
        "SELECT version FROM auth_postgres_schema WHERE object = 'token_table:legacy2'",
    )
    .fetch_one(store.pool())
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
}

/// A database at schema version 4 (sessions and tokens in it) gains the
/// `tenant` column (on tokens and events) at the next `migrate`: its rows kept, bound to no
/// tenant (so suspending a tenant touches none of them), and new rows
/// bound to tenants beside them.
#[tokio::test]
async fn a_version_4_database_gains_the_tenant_column_and_keeps_its_rows() {
    use auth_core::{NewTokenRow, PurposeFilter, RevokeAll, TokenStore};
    let db = auth_tests::pg::fresh_db().await;
    let steps = PgStore::token_table_sql("legacy4").unwrap();
    let step_5 = steps.find("ALTER TABLE \"legacy4\" ADD COLUMN").unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "{} \
         INSERT INTO auth_postgres_schema (object, version) VALUES ('token_table:legacy4', 4) \
         ON CONFLICT (object) DO UPDATE SET version = 4; \
         INSERT INTO legacy4 (jti, subject, expires_at, purpose, extra_data) VALUES \
         ('s0', 'user?id=1', now() + interval '1 day', 'session', '{{\"kind\": \"bearer\"}}'), \
         ('t0', 'user?id=1', now() + interval '1 day', 'user', NULL);",
        &steps[..step_5]
    )))
    .execute(db.store.pool())
    .await
    .unwrap();
    let store = db.store.clone().with_token_table("legacy4").unwrap();
    store.migrate().await.unwrap();
    let version: i32 = sqlx::query_scalar(
        "SELECT version FROM auth_postgres_schema WHERE object = 'token_table:legacy4'",
    )
    .fetch_one(store.pool())
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
    let keep = std::time::Duration::from_secs(60);
    let row = NewTokenRow {
        jti: "t1".into(),
        subject: "user?id=1".into(),
        expires_at: chrono::Utc::now() + chrono::Duration::hours(1),
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
}

/// A user implemented by hand, in a table written by hand with a column of
/// each kind PostgreSQL prints its own way: the hot lookups (authenticate,
/// an API key) read it column by column, and must give what reading the
/// whole row as JSON gives (`get_user`), to the byte.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Wide {
    id: uuid::Uuid,
    #[serde(rename = "login")]
    email: String,
    code: String,
    nick: Option<String>,
    small: i16,
    big: i64,
    ratio: f64,
    active: bool,
    at: chrono::DateTime<chrono::Utc>,
    local: chrono::NaiveDateTime,
    tags: Vec<String>,
    mood: String,
    missing: Option<i32>,
}

impl auth_core::UserResource for Wide {
    type PrimaryKey = uuid::Uuid;
    const SUBJECT_NAME: &'static str = "wide";
    const PRIMARY_KEY_FIELD: &'static str = "id";
    fn primary_key(&self) -> uuid::Uuid {
        self.id
    }
}

#[tokio::test]
async fn the_hot_lookups_read_a_user_as_its_whole_row_reads() {
    use auth_core::{ApiKeyStore, NewApiKey};
    let db = auth_tests::pg::fresh_db().await;
    let store = db.store.clone();
    sqlx::raw_sql(
        "CREATE TYPE mood AS ENUM ('calm', 'busy');
         CREATE TABLE wides (id uuid PRIMARY KEY, login varchar(80) NOT NULL, code char(6) NOT NULL,
           nick text, small smallint NOT NULL, big bigint NOT NULL, ratio double precision NOT NULL,
           active boolean NOT NULL, at timestamptz NOT NULL, local timestamp NOT NULL,
           tags jsonb NOT NULL, mood mood NOT NULL, missing integer, note text DEFAULT 'not in the struct',
           note2 text);
         INSERT INTO wides (id, login, code, nick, small, big, ratio, active, at, local, tags, mood)
           VALUES ('5f0c6c1e-8a4e-4d5c-9a57-0a3c7b7d1e01', 'Ada@Example.com', 'ab', NULL, -7,
           9007199254740993, 0.1, true, '2026-12-04 10:11:12.345678+00', '2026-12-04 10:11:12.5',
           '[\"a\", \"b c\"]', 'busy');",
    )
    .execute(store.pool())
    .await
    .unwrap();
    let id: uuid::Uuid = "5f0c6c1e-8a4e-4d5c-9a57-0a3c7b7d1e01".parse().unwrap();
    let whole: Wide = store.get_user(&id).await.unwrap().unwrap();
    // What `to_json` prints: `char(6)` keeps its padding, a bigint past 2^53
    // stays exact.
    assert_eq!(whole.code, "ab    ");
    assert_eq!(whole.big, 9_007_199_254_740_993);
    assert_eq!(whole.email, "Ada@Example.com");
    let (_, user) = UserStore::<Wide>::authenticate_lookup(&store, &id, "no-such-jti", None)
        .await
        .unwrap();
    assert_eq!(user.as_ref(), Some(&whole));
    let (_, user) =
        UserStore::<Wide>::authenticate_lookup(&store, &id, "no-such-jti", Some("no-sid"))
            .await
            .unwrap();
    assert_eq!(user.as_ref(), Some(&whole));
    let nobody = uuid::Uuid::new_v4();
    let (_, user) = UserStore::<Wide>::authenticate_lookup(&store, &nobody, "j", None)
        .await
        .unwrap();
    assert_eq!(user, None);
    let key = NewApiKey {
        id: "k1".into(),
        subject: format!("wide?id={id}"),
        user_key: id.to_string(),
        name: "ci".into(),
        scopes: vec![],
        secret_hash: "00".into(),
        expires_at: chrono::Utc::now() + chrono::TimeDelta::days(1),
    };
    store.insert_api_key(&key, 10, &[]).await.unwrap();
    let (row, user) = UserStore::<Wide>::api_key_lookup(&store, "k1")
        .await
        .unwrap();
    assert_eq!(row.unwrap().id, "k1");
    assert_eq!(user.as_ref(), Some(&whole));

    // A column dropped while the store runs (a migration on a live
    // system): the next lookup reads the table's columns again.
    sqlx::query("ALTER TABLE wides DROP COLUMN note")
        .execute(store.pool())
        .await
        .unwrap();
    let (_, user) = UserStore::<Wide>::authenticate_lookup(&store, &id, "j", None)
        .await
        .unwrap();
    assert_eq!(user.as_ref(), Some(&whole));
    sqlx::query("ALTER TABLE wides DROP COLUMN note2")
        .execute(store.pool())
        .await
        .unwrap();
    let (_, user) = UserStore::<Wide>::api_key_lookup(&store, "k1")
        .await
        .unwrap();
    assert_eq!(user.as_ref(), Some(&whole));
}
