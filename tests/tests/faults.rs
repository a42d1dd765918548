//! Fault injection on PostgreSQL: the database down, or a connection killed
//! in the middle of an operation. Every operation fails with a clear error,
//! no token is accepted, nothing is half-written, and the same process
//! recovers once the database is back.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::str::FromStr;
use std::time::Duration;

use auth_core::{
    Auth, Error, ExtraClaims, Purpose, PurposeFilter, TokenResourceConfig, TokenStore,
    UserResource, UserStore,
};
use auth_core::{TokenFacts, token_actions};
use auth_postgres::{PgConnectOptions, PgPoolOptions, PgStore};
use auth_tests::pg::TestDb;
use auth_tests::proxy::Proxy;
use auth_tests::{User, settings};

const APP: &str = "auth-faults";

/// A store whose connections go through `proxy`, on `db`'s schema.
async fn proxied(db: &TestDb, proxy: &Proxy) -> PgStore {
    let options = PgConnectOptions::from_str(&auth_tests::pg::database_url())
        .unwrap()
        .host("127.0.0.1")
        .port(proxy.addr().port())
        .application_name(APP)
        .options([("search_path", db.schema.as_str())]);
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(2))
        .connect_with(options)
        .await
        .unwrap();
    PgStore::new(pool)
}

async fn target() -> std::net::SocketAddr {
    let o = PgConnectOptions::from_str(&auth_tests::pg::database_url()).unwrap();
    let host = o.get_host().to_owned();
    let host = if host.starts_with('/') {
        "127.0.0.1".to_owned()
    } else {
        host
    };
    tokio::net::lookup_host((host.as_str(), o.get_port()))
        .await
        .unwrap()
        .next()
        .unwrap()
}

fn is_store_error<T: std::fmt::Debug>(r: &Result<T, Error>) -> bool {
    matches!(r, Err(Error::Store(_)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_down_fails_closed_and_recovers_without_restart() {
    let db = auth_tests::pg::fresh_db().await;
    let proxy = Proxy::start(target().await).await;
    let store = proxied(&db, &proxy).await;
    let auth = Auth::from_settings(settings(true), store.clone()).unwrap();
    let res = TokenResourceConfig::default();

    let ada = User::new("ada@example.com");
    auth.store().insert_user(&ada).await.unwrap();
    let live = auth.token_for_user(&ada, ExtraClaims::new()).await.unwrap();
    let doomed = auth.token_for_user(&ada, ExtraClaims::new()).await.unwrap();
    let expired = TokenFacts {
        jti: "expired".into(),
        subject: ada.subject(),
        expires_at: chrono::Utc::now() - chrono::Duration::hours(1),
        tenant: None,
    };
    token_actions::store_token(&store, &res, &expired, &Purpose::USER, None)
        .await
        .unwrap();
    let expunger =
        auth_core::spawn_expunger_every(store.clone(), Duration::from_millis(100), res.clone());
    assert!(auth.authenticate(&live.token).await.is_ok());

    proxy.down();
    // Fail closed: a valid token is refused while the store cannot answer.
    let a = auth.authenticate(&live.token).await;
    assert!(is_store_error(&a), "{a:?}");
    assert!(is_store_error(&auth.verify(&live.token).await));
    assert!(is_store_error(&auth.revoke(&doomed.token).await));
    assert!(is_store_error(&auth.log_out_everywhere(&ada).await));
    let bob = User::new("bob@example.com");
    let r = auth.store().insert_user(&bob).await;
    assert!(
        matches!(r, Err(auth_core::InsertUserError::Store(_))),
        "{r:?}"
    );
    assert!(is_store_error(
        &token_actions::expunge_expired(&store, &res).await
    ));
    assert!(is_store_error(
        &auth.token_for_user(&ada, ExtraClaims::new()).await
    ));
    tokio::time::sleep(Duration::from_millis(300)).await; // the expunger fails a few rounds

    proxy.up();
    // Recovery in the same process: the pool reconnects.
    let mut back = auth.authenticate(&live.token).await;
    for _ in 0..20 {
        if back.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        back = auth.authenticate(&live.token).await;
    }
    assert!(back.is_ok(), "{back:?}");
    assert!(
        auth.authenticate(&doomed.token).await.is_ok(),
        "the failed revoke wrote nothing"
    );
    let none: Option<User> = auth.store().get_user(&bob.id).await.unwrap();
    assert!(none.is_none(), "the failed registration wrote nothing");
    auth.revoke(&doomed.token).await.unwrap();
    assert!(matches!(
        auth.authenticate(&doomed.token).await,
        Err(Error::Revoked)
    ));
    // The expunger kept running and catches up.
    let mut gone = false;
    for _ in 0..50 {
        // `lookup` sees a row whatever its expiry (`get_token` hides
        // expired rows, so it could not tell).
        if store.lookup("expired", None).await.unwrap().token.is_none()
            && token_actions::read_expired(&store, &res, 10)
                .await
                .unwrap()
                .is_empty()
        {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(gone, "the expunger recovered");
    expunger.shutdown().await;
}

/// Terminates the proxied pool's backends from a direct connection.
async fn kill_backends(db: &TestDb) -> i64 {
    sqlx::query_scalar(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE application_name = $1 AND state = 'active'",
    )
    .bind(APP)
    .fetch_one(db.store.pool())
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_killed_mid_statement_leaves_no_partial_write() {
    let db = auth_tests::pg::fresh_db().await;
    let proxy = Proxy::start(target().await).await;
    let store = proxied(&db, &proxy).await;
    let res = TokenResourceConfig::default();
    const ROWS: i64 = 200_000;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "INSERT INTO tokens (jti, subject, expires_at, purpose) \
         SELECT 'k-' || g, 'user?id=victim', now() + interval '1 hour', 'user' FROM generate_series(1, {ROWS}) g"
    )))
    .execute(db.store.pool())
    .await
    .unwrap();

    // Log out everywhere is one UPDATE: killed mid-way it rolls back whole.
    let mut outcomes = Vec::new();
    for _ in 0..5 {
        let task = tokio::spawn({
            let store = store.clone();
            let res = res.clone();
            async move {
                token_actions::revoke_all_stored_for_subject(
                    &store,
                    &res,
                    "user?id=victim",
                    &PurposeFilter::all(),
                )
                .await
            }
        });
        tokio::time::sleep(Duration::from_millis(30)).await;
        let killed = kill_backends(&db).await;
        let result = task.await.unwrap();
        let revoked: i64 =
            sqlx::query_scalar("SELECT count(*) FROM tokens WHERE purpose = 'revocation'")
                .fetch_one(db.store.pool())
                .await
                .unwrap();
        assert!(
            revoked == 0 || revoked == ROWS,
            "partial update: {revoked} of {ROWS}"
        );
        match result {
            Ok(n) => assert_eq!(n as i64, ROWS),
            Err(Error::Store(_)) => assert_eq!(revoked, 0, "an error means nothing was written"),
            Err(e) => panic!("unexpected {e}"),
        }
        outcomes.push((killed, revoked));
        if revoked == ROWS {
            break;
        }
    }
    assert!(
        outcomes.iter().any(|(killed, _)| *killed > 0),
        "a statement was killed at least once: {outcomes:?}"
    );

    // The store still works afterwards, in the same process.
    let n = token_actions::revoke_all_stored_for_subject(
        &store,
        &res,
        "user?id=victim",
        &PurposeFilter::all(),
    )
    .await
    .unwrap();
    let revoked: i64 =
        sqlx::query_scalar("SELECT count(*) FROM tokens WHERE purpose = 'revocation'")
            .fetch_one(db.store.pool())
            .await
            .unwrap();
    assert_eq!(revoked, ROWS, "{n}");
}
