//! Concurrency soak on PostgreSQL: 64 tasks mixing registration, password
//! sign-in, authentication, revocation, log out everywhere and expunge, then
//! invariants. Ignored by default (60 s); run it with
//! `cargo test -p auth-tests --test soak -- --ignored --nocapture`
//! (`SOAK_SECS=10` for a shorter run).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use auth_core::{
    Auth, Authenticated, Error, ExtraClaims, HashCost, HashedPassword, Purpose, TokenResource,
    TokenType, UserResource, token_resource,
};
use auth_core::{TokenFacts, token_actions};
use auth_postgres::PgStore;
use serde::{Deserialize, Serialize};

#[token_resource]
pub struct Token;

#[derive(Authenticated, Clone, Debug, Serialize, Deserialize)]
#[authentication(
    tokens(token_resource = Token, signing_secret = "soak-0123456789abcdef0123456789abcdef", store_all_tokens, require_token_presence_for_authentication),
    strategies(password()),
    add_ons(log_out_everywhere()),
)]
pub struct User {
    pub id: uuid::Uuid,
    pub email: String,
    pub hashed_password: HashedPassword,
    pub role: String,
}

const TASKS: usize = 64;
const PASSWORD: &str = "soak-password";

fn user(email: &str) -> User {
    User {
        id: uuid::Uuid::new_v4(),
        email: email.into(),
        hashed_password: HashedPassword::default(),
        role: "member".into(),
    }
}

/// A tiny deterministic generator, one per task.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

#[derive(Default)]
struct Counts {
    ops: AtomicU64,
    registrations: AtomicU64,
    sign_ins: AtomicU64,
    authentications: AtomicU64,
    revocations: AtomicU64,
    log_outs: AtomicU64,
    expunges: AtomicU64,
    expected_errors: AtomicU64,
}

async fn timed<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(Duration::from_secs(5), f).await {
        Ok(v) => v,
        Err(_) => panic!("{what} took over 5 s: deadlock or lock pile-up"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "a 60 s soak; see the file's doc comment"]
async fn soak() {
    let secs: u64 = std::env::var("SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let db = auth_tests::pg::fresh_db().await;
    let pool = auth_postgres::PgPoolOptions::new()
        .max_connections(20)
        .connect_with(db.store.pool().connect_options().as_ref().clone())
        .await
        .unwrap();
    let store = PgStore::new(pool);
    store.create_user_table::<User>().await.unwrap();
    let auth = Arc::new(
        Auth::new(store.clone())
            .unwrap()
            .with_hash_cost(HashCost::INSECURE_FAST_FOR_TESTS)
            .unwrap(),
    );
    let counts = Arc::new(Counts::default());
    let deadline = Instant::now() + Duration::from_secs(secs);

    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let (auth, counts) = (auth.clone(), counts.clone());
            tokio::spawn(async move {
                let mut rng = Lcg(t as u64 + 1);
                let email = format!("task{t}@example.com");
                let me = timed(
                    "register",
                    auth.register_with_password(
                        user(&email),
                        PASSWORD,
                        Some(PASSWORD),
                        ExtraClaims::new(),
                    ),
                )
                .await
                .unwrap();
                let mut live = vec![me.token.token.clone()];
                let mut dead: Vec<String> = Vec::new();
                let mut issued: Vec<String> = vec![me.token.claims.jti.clone()];
                while Instant::now() < deadline {
                    counts.ops.fetch_add(1, Ordering::Relaxed);
                    match rng.next(10) {
                        0 => {
                            // Everyone races for the same identity now and then.
                            let r = timed(
                                "register",
                                auth.register_with_password(
                                    user("dup@example.com"),
                                    PASSWORD,
                                    Some(PASSWORD),
                                    ExtraClaims::new(),
                                ),
                            )
                            .await;
                            match r {
                                Ok(s) => {
                                    counts.registrations.fetch_add(1, Ordering::Relaxed);
                                    issued.push(s.token.claims.jti);
                                }
                                Err(Error::IdentityTaken) => {
                                    counts.expected_errors.fetch_add(1, Ordering::Relaxed);
                                }
                                Err(e) => panic!("register: {e}"),
                            }
                        }
                        1 | 2 => {
                            let s = timed(
                                "sign in",
                                User::sign_in_with_password(
                                    &auth,
                                    &email,
                                    PASSWORD,
                                    TokenType::User,
                                    ExtraClaims::new(),
                                ),
                            )
                            .await
                            .unwrap();
                            issued.push(s.token.claims.jti.clone());
                            live.push(s.token.token);
                            counts.sign_ins.fetch_add(1, Ordering::Relaxed);
                            let wrong = timed(
                                "sign in",
                                User::sign_in_with_password(
                                    &auth,
                                    &email,
                                    "wrong-password",
                                    TokenType::User,
                                    ExtraClaims::new(),
                                ),
                            )
                            .await;
                            assert!(matches!(wrong, Err(Error::AuthenticationFailed)));
                            counts.expected_errors.fetch_add(1, Ordering::Relaxed);
                        }
                        3..=6 => {
                            if let Some(t) = live.get(rng.next(live.len().max(1) as u64) as usize) {
                                timed("authenticate", auth.authenticate(t)).await.unwrap();
                                counts.authentications.fetch_add(1, Ordering::Relaxed);
                            }
                            if let Some(t) = dead.get(rng.next(dead.len().max(1) as u64) as usize) {
                                let r = timed("authenticate", auth.authenticate(t)).await;
                                assert!(
                                    matches!(r, Err(Error::Revoked)),
                                    "a revoked token authenticated: {r:?}"
                                );
                                counts.expected_errors.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        7 => {
                            if !live.is_empty() {
                                let t = live.swap_remove(rng.next(live.len() as u64) as usize);
                                timed("revoke", auth.revoke(&t)).await.unwrap();
                                let r = timed("authenticate", auth.authenticate(&t)).await;
                                assert!(
                                    matches!(r, Err(Error::Revoked)),
                                    "authenticated after revoke returned: {r:?}"
                                );
                                dead.push(t);
                                counts.revocations.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        8 => {
                            timed(
                                "log out everywhere",
                                User::log_out_everywhere(&auth, &me.user),
                            )
                            .await
                            .unwrap();
                            for t in live.drain(..) {
                                let r = timed("authenticate", auth.authenticate(&t)).await;
                                assert!(
                                    matches!(r, Err(Error::Revoked)),
                                    "authenticated after log out everywhere: {r:?}"
                                );
                                dead.push(t);
                            }
                            counts.log_outs.fetch_add(1, Ordering::Relaxed);
                        }
                        _ => {
                            let res = Token::CONFIG;
                            for _ in 0..5 {
                                let f = TokenFacts {
                                    jti: auth_core::new_jti(),
                                    subject: format!("user?id=expired-{t}"),
                                    expires_at: chrono::Utc::now() - chrono::Duration::seconds(1),
                                    tenant: None,
                                };
                                token_actions::store_token(
                                    auth.store(),
                                    &res,
                                    &f,
                                    &Purpose::USER,
                                    None,
                                )
                                .await
                                .unwrap();
                            }
                            timed(
                                "expunge",
                                token_actions::expunge_expired(auth.store(), &res),
                            )
                            .await
                            .unwrap();
                            counts.expunges.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                (live, dead, issued)
            })
        })
        .collect();

    let mut all_live = Vec::new();
    let mut all_dead = Vec::new();
    let mut all_issued = Vec::new();
    for t in tasks {
        let (live, dead, issued) = t.await.expect("a task failed");
        all_live.extend(live);
        all_dead.extend(dead);
        all_issued.extend(issued);
    }

    // Invariants.
    for t in &all_live {
        assert!(
            auth.authenticate(t).await.is_ok(),
            "a live token stopped working"
        );
    }
    for t in &all_dead {
        assert!(
            matches!(auth.authenticate(t).await, Err(Error::Revoked)),
            "a revoked token came back"
        );
    }
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM tokens WHERE jti = ANY($1)")
        .bind(&all_issued)
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(
        stored as usize,
        all_issued.len(),
        "every issued token is stored"
    );
    let dups: i64 =
        sqlx::query_scalar("SELECT count(*) FROM users WHERE email = 'dup@example.com'")
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert!(dups <= 1);
    assert_eq!(
        dups as u64,
        counts.registrations.load(Ordering::Relaxed),
        "one winner for the shared identity"
    );
    // An expunge that finds another node holding the expunge lock skips its
    // round by design, so the last rounds' rows may wait for the next one:
    // run it, and nothing expired may be left.
    token_actions::expunge_expired(&store, &Token::CONFIG)
        .await
        .unwrap();
    let leftover_expired: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM tokens WHERE expires_at < now() - interval '5 seconds'",
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!(
        leftover_expired, 0,
        "one more round removes every expired row"
    );

    let c = &counts;
    println!(
        "soak: {secs} s, {TASKS} tasks, {} operations: {} sign-ins, {} authentications, {} revocations, {} logs out everywhere, {} expunges, {} registrations of the shared identity, {} expected refusals; {} live and {} revoked tokens checked at the end, {} issued tokens all stored",
        c.ops.load(Ordering::Relaxed),
        c.sign_ins.load(Ordering::Relaxed),
        c.authentications.load(Ordering::Relaxed),
        c.revocations.load(Ordering::Relaxed),
        c.log_outs.load(Ordering::Relaxed),
        c.expunges.load(Ordering::Relaxed),
        c.registrations.load(Ordering::Relaxed),
        c.expected_errors.load(Ordering::Relaxed),
        all_live.len(),
        all_dead.len(),
        all_issued.len(),
    );
    let _ = User::SUBJECT_NAME;
}
