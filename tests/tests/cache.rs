//! The revocation and user cache across nodes: two `Auth`s on two pools over
//! one PostgreSQL schema behave as two nodes, each with its own cache and
//! listener. A write on node A is refused on node B; the propagation time
//! is measured; a killed listener serves no stale answer; entries expire
//! and the cache stays within its capacity.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::str::FromStr;
use std::time::{Duration, Instant};

use auth_core::{
    Auth, AuthCache, Authenticated, CacheConfig, Error, ExtraClaims, HashCost, Secret, SignedIn,
    UserStore, token_resource,
};
use auth_postgres::{InvalidationListener, PgConnectOptions, PgPoolOptions, PgStore};
use auth_tests::pg::TestDb;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[token_resource]
pub struct Token;

#[derive(Authenticated, Clone, Debug, Serialize, Deserialize)]
#[authentication(
    tokens(
        token_resource = Token,
        signing_secret(env = "CACHE_TEST_SECRET_UNSET"),
        token_lifetime = "15m",
        store_all_tokens,
        require_token_presence_for_authentication,
        refresh_tokens(lifetime = "7d"),
    ),
    strategies(password(), api_key(prefix = "cache", scopes = ["reports:read"])),
    add_ons(sessions(lifetime = "30d"), log_out_everywhere(apply_on_password_change)),
)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub hashed_password: String,
    pub role: String,
}

type A = Auth<User, PgStore>;

const SECRET: &str = "cache-secret-0123456789abcdef0123456789abcdef";

struct Node {
    auth: A,
    cache: AuthCache<User>,
    listener: Option<InvalidationListener>,
}

/// A node: its own pool (named `app`, so its listener can be found) on the
/// test schema, its own cache and listener.
async fn node(db: &TestDb, app: &str, config: CacheConfig) -> Node {
    let options = PgConnectOptions::from_str(&auth_tests::pg::database_url())
        .unwrap()
        .application_name(&app_name(db, app))
        .options([("search_path", db.schema.as_str())]);
    let pool = PgPoolOptions::new()
        .max_connections(6)
        .connect_with(options)
        .await
        .unwrap();
    let store = PgStore::new(pool);
    let cache = AuthCache::new(config);
    let listener = store
        .listen_for_invalidations::<User>(cache.clone())
        .await
        .unwrap();
    let auth = Auth::with_secret(User::settings(), &Secret::from(SECRET), store)
        .unwrap()
        .with_hash_cost(HashCost::INSECURE_FAST_FOR_TESTS)
        .unwrap()
        .with_cache(cache.clone());
    wait_until(|| cache.is_listening()).await;
    Node {
        auth,
        cache,
        listener: Some(listener),
    }
}

/// Node names are per test (tests run at once on one server).
fn app_name(db: &TestDb, app: &str) -> String {
    format!("{app}-{}", db.schema)
}

async fn two_nodes(config: CacheConfig) -> (TestDb, Node, Node) {
    let db = auth_tests::pg::fresh_db().await;
    let a = node(&db, "node-a", config).await;
    let b = node(&db, "node-b", config).await;
    (db, a, b)
}

async fn wait_until(mut cond: impl FnMut() -> bool) {
    let started = Instant::now();
    while !cond() {
        assert!(started.elapsed() < Duration::from_secs(10), "timed out");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

async fn register(node: &Node, email: &str) -> SignedIn<User> {
    auth_tests::register_with(&node.auth, email, auth_tests::PASSWORD, ExtraClaims::new()).await
}

/// Authenticates on `node` until its cache answers (a hit), so the next
/// answer is the cache's. (An invalidation in flight, e.g. of the sign-in
/// that minted the token, may evict it first: then it is read again.)
async fn warm(node: &Node, token: &str) {
    let started = Instant::now();
    loop {
        let hits = node.cache.stats().hits;
        node.auth.authenticate(token).await.unwrap();
        if node.cache.stats().hits > hits {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the node never answered from its cache"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// A new session of `user`'s signed in on node `a`, its token in `b`'s
/// cache.
async fn sign_in_on_a_warm_on_b(a: &Node, b: &Node, user: &User) -> SignedIn<User> {
    let s = a
        .auth
        .sign_in(user.clone(), ExtraClaims::new())
        .await
        .unwrap();
    warm(b, &s.token.token).await;
    s
}

/// How long until `node` refuses `token`, polling as fast as it answers.
async fn refused_after(node: &Node, token: &str, since: Instant) -> (Duration, Error) {
    loop {
        match node.auth.authenticate(token).await {
            Err(e) => return (since.elapsed(), e),
            Ok(_) => {
                assert!(
                    since.elapsed() < Duration::from_secs(5),
                    "still accepted after 5 s"
                );
                tokio::task::yield_now().await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_invalidating_write_on_one_node_is_refused_on_the_other() {
    let (_db, a, b) = two_nodes(CacheConfig::default()).await;

    // Sign-out (ends the session).
    let ada = register(&a, "ada@example.com").await;
    warm(&b, &ada.token.token).await;
    a.auth.revoke(&ada.token.token).await.unwrap();
    let (took, e) = refused_after(&b, &ada.token.token, Instant::now()).await;
    assert!(
        matches!(e, Error::Revoked | Error::SessionEnded),
        "{e:?} after {took:?}"
    );

    // Ending a session from the device list.
    let s = sign_in_on_a_warm_on_b(&a, &b, &ada.user).await;
    let sid = a.auth.list_sessions(&ada.user, None).await.unwrap()[0]
        .id
        .clone();
    a.auth.revoke_session(&ada.user, &sid).await.unwrap();
    refused_after(&b, &s.token.token, Instant::now()).await;

    // Log out everywhere.
    let s = sign_in_on_a_warm_on_b(&a, &b, &ada.user).await;
    a.auth.log_out_everywhere(&ada.user).await.unwrap();
    refused_after(&b, &s.token.token, Instant::now()).await;

    // A password change.
    let s = sign_in_on_a_warm_on_b(&a, &b, &ada.user).await;
    User::change_password(
        &a.auth,
        &s.user,
        "password-1",
        "password-2",
        Some("password-2"),
        ExtraClaims::new(),
    )
    .await
    .unwrap();
    refused_after(&b, &s.token.token, Instant::now()).await;

    // A user update is seen; a user deleted is gone.
    let bob = register(&a, "bob@example.com").await;
    warm(&b, &bob.token.token).await;
    let mut promoted = bob.user.clone();
    promoted.role = "admin".into();
    assert!(
        UserStore::<User>::update_user(a.auth.store(), &promoted)
            .await
            .unwrap()
    );
    let started = Instant::now();
    while b
        .auth
        .authenticate(&bob.token.token)
        .await
        .unwrap()
        .user
        .role
        != "admin"
    {
        assert!(started.elapsed() < Duration::from_secs(5));
        tokio::task::yield_now().await;
    }
    sqlx::query("DELETE FROM users WHERE id = $1::uuid")
        .bind(bob.user.id.to_string())
        .execute(a.auth.store().pool())
        .await
        .unwrap();
    let (_, e) = refused_after(&b, &bob.token.token, Instant::now()).await;
    assert!(matches!(e, Error::UserNotFound), "{e:?}");
}

/// Authenticates `key` on `node` until its cache answers.
async fn warm_key(node: &Node, key: &str) {
    let started = Instant::now();
    loop {
        let hits = node.cache.stats().hits;
        node.auth.authenticate_api_key(key).await.unwrap();
        if node.cache.stats().hits > hits {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the node never answered a key from its cache"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// How long until `node` refuses the API key.
async fn key_refused_after(node: &Node, key: &str, since: Instant) -> Duration {
    loop {
        match node.auth.authenticate_api_key(key).await {
            Err(e) => {
                assert!(matches!(e, Error::InvalidApiKey), "{e:?}");
                return since.elapsed();
            }
            Ok(_) => {
                assert!(
                    since.elapsed() < Duration::from_secs(5),
                    "key still accepted after 5 s"
                );
                tokio::task::yield_now().await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn api_keys_are_served_from_the_cache_and_refused_everywhere_once_revoked() {
    let (_db, a, b) = two_nodes(CacheConfig::default()).await;
    let ada = register(&a, "ada@example.com").await;
    let make = async |name: &str| {
        a.auth
            .create_api_key(&ada.user, name, &["reports:read"], None)
            .await
            .unwrap()
            .key
    };

    // Served from B's cache: a hundred authentications, no store read.
    let key = make("ci").await;
    warm_key(&b, &key).await;
    let before = b.cache.stats();
    for _ in 0..100 {
        let found = b.auth.authenticate_api_key(&key).await.unwrap();
        assert_eq!(found.user.id, ada.user.id);
    }
    let after = b.cache.stats();
    assert_eq!(after.hits - before.hits, 100, "{before:?} → {after:?}");
    assert_eq!(after.misses, before.misses);

    // Revoking one key on A: refused on B.
    let id = a.auth.list_api_keys(&ada.user).await.unwrap()[0].id.clone();
    let started = Instant::now();
    a.auth.revoke_api_key(&ada.user, &id).await.unwrap();
    let took = key_refused_after(&b, &key, started).await;
    assert!(took < Duration::from_secs(1), "{took:?}");

    // Revoking all of them.
    let key = make("deploy").await;
    warm_key(&b, &key).await;
    a.auth.revoke_all_api_keys(&ada.user).await.unwrap();
    key_refused_after(&b, &key, Instant::now()).await;

    // A key dies with its user.
    let key = make("report").await;
    warm_key(&b, &key).await;
    sqlx::query("DELETE FROM users WHERE id = $1::uuid")
        .bind(ada.user.id.to_string())
        .execute(a.auth.store().pool())
        .await
        .unwrap();
    key_refused_after(&b, &key, Instant::now()).await;

    // A wrong secret for a cached key is refused (the cache keeps rows,
    // never a verdict).
    let bob = register(&a, "bob@example.com").await;
    let key = a
        .auth
        .create_api_key(&bob.user, "ci", &[], None)
        .await
        .unwrap()
        .key;
    warm_key(&b, &key).await;
    let other = a
        .auth
        .create_api_key(&bob.user, "other", &[], None)
        .await
        .unwrap()
        .key;
    // Bob's id with the other key's secret (and a fresh checksum).
    let (id_part, _) = key.rsplit_once('_').unwrap();
    let (id_part, _) = id_part.rsplit_once('_').unwrap();
    let secret = other.split('_').nth(2).unwrap();
    let forged = auth_tests::with_key_checksum(&format!("{id_part}_{secret}"));
    assert!(matches!(
        b.auth.authenticate_api_key(&forged).await,
        Err(Error::InvalidApiKey)
    ));
}

/// Measures the window between a revocation committed on node A and its
/// refusal on node B, over 200 trials.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn propagation_between_nodes_is_under_100_ms_at_p99() {
    let (_db, a, b) = two_nodes(CacheConfig::default()).await;
    let ada = register(&a, "ada@example.com").await;
    let mut samples = Vec::new();
    for _ in 0..200 {
        let s = a
            .auth
            .sign_in(ada.user.clone(), ExtraClaims::new())
            .await
            .unwrap();
        warm(&b, &s.token.token).await;
        a.auth.revoke(&s.token.token).await.unwrap();
        let (took, _) = refused_after(&b, &s.token.token, Instant::now()).await;
        samples.push(took);
    }
    samples.sort();
    let p = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    eprintln!(
        "propagation over {} trials: p50 {:?}, p99 {:?}, max {:?}",
        samples.len(),
        p(0.5),
        p(0.99),
        p(1.0)
    );
    assert!(p(0.99) < Duration::from_millis(100), "p99 {:?}", p(0.99));
}

async fn kill_listener(db: &TestDb, app: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE application_name = $1 AND query LIKE 'LISTEN%'",
    )
    .bind(app_name(db, app))
    .fetch_one(db.store.pool())
    .await
    .unwrap()
}

/// While node B's listener is gone (killed) and until it listens again, B
/// serves no answer a write on A has made stale: every trial revokes on A
/// and authenticates on B at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_listener_serves_no_stale_answer_while_it_reconnects() {
    let (db, a, b) = two_nodes(CacheConfig::default()).await;
    let ada = register(&a, "ada@example.com").await;
    let (mut trials, mut during_outage) = (0, 0);
    for _ in 0..10 {
        let outages = b.cache.stats().outages;
        assert_eq!(kill_listener(&db, "node-b").await, 1);
        wait_until(|| b.cache.stats().outages > outages).await;
        // From the moment B knows, through its reconnection, and after.
        let window = Instant::now();
        while window.elapsed() < Duration::from_millis(200) {
            let s = a
                .auth
                .sign_in(ada.user.clone(), ExtraClaims::new())
                .await
                .unwrap();
            let _ = b.auth.authenticate(&s.token.token).await.unwrap();
            let _ = b.auth.authenticate(&s.token.token).await.unwrap();
            let outage = !b.cache.is_listening();
            a.auth.revoke(&s.token.token).await.unwrap();
            let e = b.auth.authenticate(&s.token.token).await;
            if outage {
                during_outage += 1;
                assert!(e.is_err(), "a stale answer during the outage");
            } else {
                // Listening again: the invalidation may be in flight; it
                // must land well within the bound.
                refused_after(&b, &s.token.token, Instant::now()).await;
            }
            trials += 1;
        }
        wait_until(|| b.cache.is_listening()).await;
    }
    let stats = b.cache.stats();
    eprintln!("{trials} trials, {during_outage} during outages; node B: {stats:?}");
    assert!(during_outage > 0 && stats.bypassed > 0 && trials > 50);
    assert!(stats.bypass_time > Duration::ZERO);
}

/// Invalidations are the rule, the TTL the safety net: with the triggers
/// disabled (a write the listener cannot hear), node B serves the old
/// answer, and refuses once the entry's time is up.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn entries_expire_after_the_ttl_even_without_an_invalidation() {
    let config = CacheConfig {
        ttl: Duration::from_millis(500),
        ..CacheConfig::default()
    };
    let (_db, a, b) = two_nodes(config).await;
    let ada = register(&a, "ada@example.com").await;
    warm(&b, &ada.token.token).await;
    sqlx::raw_sql("ALTER TABLE tokens DISABLE TRIGGER USER")
        .execute(a.auth.store().pool())
        .await
        .unwrap();
    let revoked_at = Instant::now();
    a.auth.revoke(&ada.token.token).await.unwrap();
    assert!(
        b.auth.authenticate(&ada.token.token).await.is_ok(),
        "unheard, the cached answer is still served (this is what the TTL bounds)"
    );
    let (took, _) = refused_after(&b, &ada.token.token, revoked_at).await;
    assert!(took <= Duration::from_millis(1_500), "{took:?}");
    assert!(b.cache.stats().evictions >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_cache_stays_within_its_capacity() {
    let config = CacheConfig {
        capacity: 10,
        ..CacheConfig::default()
    };
    let (_db, a, b) = two_nodes(config).await;
    for i in 0..50 {
        let signed = register(&a, &format!("user{i}@example.com")).await;
        b.auth.authenticate(&signed.token.token).await.unwrap();
        b.auth.authenticate(&signed.token.token).await.unwrap();
    }
    assert!(b.cache.len() <= 10, "{} subjects held", b.cache.len());
    assert!(b.cache.stats().evictions >= 30, "{:?}", b.cache.stats());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_whose_listener_is_shut_down_bypasses_its_cache() {
    let (_db, a, mut b) = two_nodes(CacheConfig::default()).await;
    let ada = register(&a, "ada@example.com").await;
    warm(&b, &ada.token.token).await;
    b.listener.take().unwrap().shutdown().await;
    assert!(!b.cache.is_listening());
    let before = b.cache.stats();
    b.auth.authenticate(&ada.token.token).await.unwrap();
    let after = b.cache.stats();
    assert_eq!(after.hits, before.hits);
    assert_eq!(after.bypassed, before.bypassed + 1);
    drop(a);
}
