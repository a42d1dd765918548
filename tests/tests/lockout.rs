//! The brute-force add-on on every store: an identity locks after its
//! failures and answers as a wrong password (even to its right password,
//! and alike for an unknown identity), unlocks by a password reset; an
//! address that tries many identities is throttled (429, `Retry-After`)
//! while every owner signs in from another; a credential-stuffing run is
//! bounded; on PostgreSQL, failures counted on one node lock on another.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use auth_core::{
    Auth, Authenticated, ClientInfo, Error, HashCost, PasswordStore, Secret, SignedIn,
    SingleUseStore, TokenType, token_resource,
};
use auth_tests::PASSWORD;
use auth_tests::conformance::Fixture;
use auth_tests::special::{Addressed, Outbox};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[token_resource]
pub struct Token;

#[derive(Authenticated, Clone, Debug, Serialize, Deserialize)]
#[authentication(
    tokens(
        token_resource = Token,
        store_all_tokens,
        require_token_presence_for_authentication,
    ),
    strategies(password(resettable())),
    add_ons(brute_force(max_failures = 3, max_failures_per_ip = 10)),
)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub hashed_password: String,
    pub role: String,
}

impl Addressed for User {
    fn address(&self) -> &str {
        &self.email
    }
}

const SECRET: &str = "lockout-secret-0123456789abcdef0123456789abcdef";

trait Store: PasswordStore<User> + SingleUseStore + Clone + 'static {}
impl<S: PasswordStore<User> + SingleUseStore + Clone + 'static> Store for S {}

fn auth<S: Store>(store: S, outbox: &Outbox) -> Arc<Auth<User, S>> {
    auth_with(store, outbox, User::settings())
}

fn auth_with<S: Store>(
    store: S,
    outbox: &Outbox,
    settings: auth_core::Settings<User>,
) -> Arc<Auth<User, S>> {
    let settings = settings.with_sender(outbox.clone());
    Arc::new(
        Auth::with_secret(settings, &Secret::from(SECRET), store)
            .unwrap()
            .with_hash_cost(HashCost::INSECURE_FAST_FOR_TESTS)
            .unwrap(),
    )
}

/// The settings with magic links too (ten minutes).
fn with_magic_links() -> auth_core::Settings<User> {
    let mut settings = User::settings();
    settings.magic_link = Some(auth_core::MagicLinkConfig {
        token_lifetime: auth_core::Lifetime::from_secs(600),
    });
    settings
}

fn from(ip: &str) -> ClientInfo {
    ClientInfo::new(None, Some(ip.parse::<IpAddr>().unwrap()))
}

async fn register<S: Store>(auth: &Auth<User, S>, email: &str) -> User {
    let user = User {
        id: Uuid::new_v4(),
        email: email.into(),
        hashed_password: String::new(),
        role: "member".into(),
    };
    auth.register_with_password(user, PASSWORD, Some(PASSWORD), ClientInfo::default())
        .await
        .unwrap()
        .user
}

async fn sign_in<S: Store>(
    auth: &Auth<User, S>,
    email: &str,
    password: &str,
    client: ClientInfo,
) -> Result<SignedIn<User>, Error> {
    auth.sign_in_with_password(email, password, TokenType::User, client)
        .await
}

fn failed(r: Result<SignedIn<User>, Error>) -> bool {
    matches!(r, Err(Error::AuthenticationFailed))
}

async fn an_identity_locks_and_answers_as_a_wrong_password<S: Store>(store: S) {
    let outbox = Outbox::default();
    let auth = auth(store, &outbox);
    register(&auth, "ada@example.com").await;
    // A success clears the count: two failures, a success, two more.
    for _ in 0..2 {
        assert!(failed(
            sign_in(&auth, "ada@example.com", "nope", from("192.0.2.1")).await
        ));
    }
    sign_in(&auth, "ada@example.com", PASSWORD, from("192.0.2.1"))
        .await
        .unwrap();
    for _ in 0..2 {
        assert!(failed(
            sign_in(&auth, "ada@example.com", "nope", from("192.0.2.2")).await
        ));
    }
    sign_in(&auth, " Ada@Example.com", PASSWORD, from("192.0.2.2"))
        .await
        .expect("two failures since the success: open");
    // Three failures from three addresses lock the identity: its right
    // password then answers as a wrong one, from anywhere.
    for ip in ["192.0.2.3", "192.0.2.4", "192.0.2.5"] {
        assert!(failed(
            sign_in(&auth, "ada@example.com", "nope", from(ip)).await
        ));
    }
    for ip in ["192.0.2.3", "198.51.100.9"] {
        assert!(
            failed(sign_in(&auth, "ADA@example.com", PASSWORD, from(ip)).await),
            "locked, and it says so to nobody"
        );
    }
    // An unknown identity locks alike (nothing tells the two apart).
    for _ in 0..3 {
        assert!(failed(
            sign_in(&auth, "ghost@example.com", "nope", from("192.0.2.6")).await
        ));
    }
    assert!(failed(
        sign_in(&auth, "ghost@example.com", "nope", from("192.0.2.6")).await
    ));
    // A password reset unlocks it.
    User::request_password_reset(&auth, "ada@example.com").unwrap();
    let token = outbox.token_for("ada@example.com", 0).await;
    User::reset_password(
        &auth,
        &token,
        "password-2",
        Some("password-2"),
        ClientInfo::default(),
    )
    .await
    .unwrap();
    sign_in(&auth, "ada@example.com", "password-2", from("192.0.2.7"))
        .await
        .expect("unlocked by the reset");
}

async fn a_lock_runs_out_after_its_lockout<S: Store>(store: S) {
    let outbox = Outbox::default();
    let mut settings = User::settings();
    let b = settings.brute_force.as_mut().unwrap();
    b.lockout = auth_core::Lifetime::from_secs(1);
    b.window = auth_core::Lifetime::from_secs(1);
    let auth = auth_with(store, &outbox, settings);
    register(&auth, "ada@example.com").await;
    for _ in 0..3 {
        assert!(failed(
            sign_in(&auth, "ada@example.com", "nope", from("192.0.2.1")).await
        ));
    }
    assert!(failed(
        sign_in(&auth, "ada@example.com", PASSWORD, from("192.0.2.1")).await
    ));
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    sign_in(&auth, "ada@example.com", PASSWORD, from("192.0.2.1"))
        .await
        .expect("the lockout ran out");
}

async fn an_address_that_tries_many_identities_is_throttled<S: Store>(store: S) {
    let outbox = Outbox::default();
    let auth = auth(store, &outbox);
    register(&auth, "ada@example.com").await;
    // Ten failures from one address, each for another identity: no
    // identity is locked, the address is.
    for n in 0..10 {
        let email = format!("guess{n}@example.com");
        assert!(failed(
            sign_in(&auth, &email, "nope", from("203.0.113.9")).await
        ));
    }
    let refused = sign_in(&auth, "ada@example.com", PASSWORD, from("203.0.113.9")).await;
    let Err(e) = refused else {
        panic!("an 11th attempt from a throttled address went through")
    };
    assert_eq!(auth_core::http::status_code(&e), 429);
    assert_eq!(auth_core::http::public_code(&e), "too_many_attempts");
    let wait = auth_core::http::retry_after(&e).unwrap();
    assert!(
        wait > Duration::from_secs(890) && wait <= Duration::from_secs(900),
        "{wait:?}"
    );
    // Its IPv6 neighbours in the same /64 are the same address.
    for n in 0..10 {
        let email = format!("v6guess{n}@example.com");
        let ip = format!("2001:db8:5:6::{n:x}");
        assert!(failed(sign_in(&auth, &email, "nope", from(&ip)).await));
    }
    assert!(matches!(
        sign_in(
            &auth,
            "ada@example.com",
            PASSWORD,
            from("2001:db8:5:6::ffff")
        )
        .await,
        Err(Error::TooManyAttempts { .. })
    ));
    // The owner, from elsewhere, is in.
    sign_in(&auth, "ada@example.com", PASSWORD, from("198.51.100.1"))
        .await
        .unwrap();
}

/// 1 000 identities × 3 passwords from one address (ten of them real
/// accounts with other passwords): the run is refused after the address's
/// tenth failure, without hashing, and every owner signs in from elsewhere.
async fn a_credential_stuffing_run_is_throttled_and_owners_get_in<S: Store>(store: S) {
    let outbox = Outbox::default();
    let auth = auth(store, &outbox);
    let owners: Vec<String> = (0..10)
        .map(|n| format!("user{}@example.com", n * 100))
        .collect();
    for owner in &owners {
        register(&auth, owner).await;
    }
    let started = Instant::now();
    let (mut failures, mut throttled) = (0, 0);
    for password in ["123456", "password", "qwerty"] {
        for n in 0..1_000 {
            let email = format!("user{n}@example.com");
            match sign_in(&auth, &email, password, from("203.0.113.66")).await {
                Err(Error::AuthenticationFailed) => failures += 1,
                Err(Error::TooManyAttempts { .. }) => throttled += 1,
                other => panic!("{email}/{password}: {other:?}"),
            }
        }
    }
    assert_eq!((failures, throttled), (10, 2_990));
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "throttled attempts cost no hashing: {:?}",
        started.elapsed()
    );
    for owner in &owners {
        sign_in(&auth, owner, PASSWORD, from("198.51.100.2"))
            .await
            .unwrap_or_else(|e| panic!("{owner}: {e:?}"));
    }
}

/// Sixteen wrong passwords at once for one identity: every one is counted
/// (the identity is locked after them, with a max of three).
async fn concurrent_failures_lock<S: Store>(store: S) {
    let outbox = Outbox::default();
    let auth = auth(store, &outbox);
    register(&auth, "ada@example.com").await;
    let tries: Vec<_> = (0..16)
        .map(|n| {
            let auth = auth.clone();
            tokio::spawn(async move {
                let ip = format!("192.0.2.{}", n + 1);
                sign_in(&auth, "ada@example.com", "nope", from(&ip)).await
            })
        })
        .collect();
    for t in tries {
        assert!(failed(t.await.unwrap()));
    }
    assert!(failed(
        sign_in(&auth, "ada@example.com", PASSWORD, from("198.51.100.3")).await
    ));
}

/// Sign-in tokens and magic links presented from one address count
/// against it with its password failures: forged ones until the address
/// is throttled, after which even a good one is refused there (and works
/// from elsewhere).
async fn forged_tokens_count_against_the_address<S: Store>(store: S) {
    let outbox = Outbox::default();
    let auth = auth_with(store, &outbox, with_magic_links());
    register(&auth, "ada@example.com").await;
    let attacker = "203.0.113.5";
    for n in 0..6 {
        let forged = format!("eyJhbGciOiJIUzI1NiJ9.e30.forged{n}");
        assert!(
            auth.sign_in_with_token(&forged, from(attacker))
                .await
                .is_err()
        );
    }
    for n in 0..4 {
        let forged = format!("not-a-link-{n}");
        assert!(
            auth.sign_in_with_magic_link(&forged, from(attacker))
                .await
                .is_err()
        );
    }
    // Ten failures: the address is throttled for every kind of attempt.
    let good = auth
        .sign_in_with_password(
            "ada@example.com",
            PASSWORD,
            TokenType::SignIn,
            from("198.51.100.4"),
        )
        .await
        .unwrap()
        .token
        .token;
    assert!(matches!(
        auth.sign_in_with_token(&good, from(attacker)).await,
        Err(Error::TooManyAttempts { .. })
    ));
    assert!(matches!(
        sign_in(&auth, "ada@example.com", PASSWORD, from(attacker)).await,
        Err(Error::TooManyAttempts { .. })
    ));
    auth.sign_in_with_token(&good, from("198.51.100.4"))
        .await
        .expect("the good token, from elsewhere");
}

/// Reset and magic-link requests count against their address, whatever
/// the identity (known or not): past `max_failures_per_ip` the address is
/// refused (429, `Retry-After`), and nothing more is sent, while another
/// address still asks.
async fn requests_are_throttled_per_address<S: Store>(store: S) {
    let outbox = Outbox::default();
    let auth = auth_with(store, &outbox, with_magic_links());
    register(&auth, "ada@example.com").await;
    let flood = from("203.0.113.8");
    for n in 0..10 {
        let who = if n % 2 == 0 {
            "ada@example.com".to_owned()
        } else {
            format!("nobody{n}@example.com")
        };
        if n < 5 {
            auth.request_password_reset_from(&who, &flood)
                .await
                .unwrap();
        } else {
            auth.request_magic_link_from(&who, &flood).await.unwrap();
        }
    }
    register(&auth, "bob@example.com").await;
    for refused in [
        auth.request_password_reset_from("bob@example.com", &flood)
            .await,
        auth.request_magic_link_from("bob@example.com", &flood)
            .await,
    ] {
        let Err(e) = refused else {
            panic!("the eleventh request from one address was accepted")
        };
        assert!(matches!(e, Error::TooManyAttempts { .. }), "{e:?}");
        assert_eq!(auth_core::http::status_code(&e), 429);
        assert!(auth_core::http::retry_after(&e).is_some());
    }
    // Nothing was queued for the refused ones: once the queue has drained,
    // bob has no mail (ada has hers).
    let started = std::time::Instant::now();
    while auth.waiting_requests() > 0 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the queue never drained"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    outbox
        .message("ada@example.com", &auth_core::Purpose::MAGIC_LINK, 0)
        .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        outbox.count_to("bob@example.com"),
        0,
        "a refused request sent nothing"
    );
    auth.request_password_reset_from("bob@example.com", &from("198.51.100.8"))
        .await
        .expect("another address still asks");
    outbox.token_for("bob@example.com", 0).await;
}

/// API keys presented from one address: each refused one counts against
/// it; past `max_failures_per_ip` the address has no key checked, even a
/// right one (429 through the axum layer), while another address's key
/// works.
async fn refused_api_keys_count_against_the_address<S: Store + auth_core::ApiKeyStore>(store: S) {
    use auth_core::http::axum::{ApiKey, AuthLayer};
    use axum::body::Body;
    use axum::http::Request;
    let outbox = Outbox::default();
    let mut settings = User::settings();
    settings.api_key = Some(auth_core::ApiKeyConfig::new("lock"));
    let auth = auth_with(store, &outbox, settings);
    let ada = register(&auth, "ada@example.com").await;
    let key = auth
        .create_api_key(&ada, "ci", &[], None)
        .await
        .unwrap()
        .key;
    let attacker: IpAddr = "203.0.113.9".parse().unwrap();
    // A well-formed key of another id, and the right id with another secret.
    let wrong = auth.create_api_key(&ada, "x", &[], None).await.unwrap();
    auth.revoke_api_key(&ada, &wrong.info.id).await.unwrap();
    for _ in 0..10 {
        let refused = auth
            .authenticate_headers_from(None, Some(&wrong.key), None, Some(attacker))
            .await;
        assert!(matches!(refused, Err(Error::InvalidApiKey)), "{refused:?}");
    }
    let throttled = auth
        .authenticate_headers_from(None, Some(&key), None, Some(attacker))
        .await;
    assert!(
        matches!(throttled, Err(Error::TooManyAttempts { .. })),
        "{throttled:?}"
    );
    auth.authenticate_headers_from(
        None,
        Some(&key),
        None,
        Some("198.51.100.9".parse().unwrap()),
    )
    .await
    .unwrap()
    .expect("a key from another address");
    // Through the axum layer: 429 with Retry-After for the throttled peer.
    async fn reports(ApiKey(_): ApiKey<User>) -> &'static str {
        "ok"
    }
    let app = axum::Router::new()
        .route("/reports", axum::routing::get(reports))
        .layer(AuthLayer::optional(auth.clone()));
    let call = |peer: IpAddr| {
        let mut req = Request::get("/reports")
            .header("x-api-key", key.as_str())
            .body(Body::empty())
            .unwrap();
        req.extensions_mut()
            .insert(axum::extract::ConnectInfo(std::net::SocketAddr::new(
                peer, 40000,
            )));
        let mut svc = app.clone().into_service::<Body>();
        async move {
            std::future::poll_fn(|cx| tower_service::Service::poll_ready(&mut svc, cx))
                .await
                .unwrap();
            tower_service::Service::call(&mut svc, req).await.unwrap()
        }
    };
    let res = call(attacker).await;
    assert_eq!(res.status(), 429);
    assert!(res.headers().contains_key("retry-after"));
    let res = call("198.51.100.9".parse().unwrap()).await;
    assert_eq!(res.status(), 200);
}

/// A sign-in reads the user and the locked counters together (one
/// statement on the SQL stores): the user by identity, and of the keys
/// asked for, only the locked ones with when they unlock.
async fn the_sign_in_lookup_reads_the_user_and_the_locks_at_once<S: Store>(store: S) {
    use auth_core::{Failure, PasswordStore};
    let outbox = Outbox::default();
    let auth = auth(store.clone(), &outbox);
    let ada = register(&auth, "ada@example.com").await;
    let minute = Duration::from_secs(60);
    let fail = |key, max_failures| Failure { key, max_failures };
    store
        .record_failures(
            &[fail("locked", 1), fail("counting", 5)],
            minute,
            minute,
            &[],
        )
        .await
        .unwrap();
    let keys = ["locked", "counting", "never"].map(String::from);
    let rows = PasswordStore::<User>::sign_in_lookup(&store, "ada@example.com", &keys)
        .await
        .unwrap();
    assert_eq!(rows.user.map(|u| u.id), Some(ada.id));
    assert_eq!(rows.locked.len(), 1, "{:?}", rows.locked);
    let (key, until) = &rows.locked[0];
    assert_eq!(key, "locked");
    assert!(*until > chrono::Utc::now());
    let rows = PasswordStore::<User>::sign_in_lookup(&store, "nobody@example.com", &[])
        .await
        .unwrap();
    assert!(rows.user.is_none() && rows.locked.is_empty());
}

auth_tests::on_every_store!(
    table = super::User;
    the_sign_in_lookup_reads_the_user_and_the_locks_at_once,
    requests_are_throttled_per_address,
    refused_api_keys_count_against_the_address,
    an_identity_locks_and_answers_as_a_wrong_password,
    a_lock_runs_out_after_its_lockout,
    an_address_that_tries_many_identities_is_throttled,
    a_credential_stuffing_run_is_throttled_and_owners_get_in,
    concurrent_failures_lock,
    forged_tokens_count_against_the_address
);

/// Two nodes (two pools, two `Auth`s) on one PostgreSQL: failures on node
/// A lock the identity on node B, and throttle the address there.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failures_on_one_node_count_on_another() {
    use std::str::FromStr;
    let db = auth_tests::pg::fresh_db().await;
    db.create_user_table::<User>().await;
    let node = async || {
        let options = auth_postgres::PgConnectOptions::from_str(&auth_tests::pg::database_url())
            .unwrap()
            .options([("search_path", db.schema.as_str())]);
        let pool = auth_postgres::PgPoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .unwrap();
        auth(auth_postgres::PgStore::new(pool), &Outbox::default())
    };
    let (a, b) = (node().await, node().await);
    register(&a, "ada@example.com").await;
    for _ in 0..3 {
        assert!(failed(
            sign_in(&a, "ada@example.com", "nope", from("192.0.2.1")).await
        ));
    }
    assert!(
        failed(sign_in(&b, "ada@example.com", PASSWORD, from("198.51.100.1")).await),
        "locked on node B by node A's failures"
    );
    for n in 0..7 {
        let email = format!("guess{n}@example.com");
        assert!(failed(sign_in(&b, &email, "nope", from("192.0.2.1")).await));
    }
    assert!(
        matches!(
            sign_in(&a, "bob@example.com", "nope", from("192.0.2.1")).await,
            Err(Error::TooManyAttempts { .. })
        ),
        "ten failures over two nodes throttle the address on both"
    );
}
