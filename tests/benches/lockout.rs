//! What the brute-force add-on costs, on PostgreSQL, interleaved against
//! the same runtime without it (same pool, same cluster):
//! - a failed password sign-in (an unknown identity from a fresh address
//!   each time: a read of the two counters and one upsert of both), at the
//!   test hash cost (the store work in full view) and at the production
//!   cost (OWASP argon2id: what a caller sees);
//! - an authentication (unchanged: authenticating records nothing).
//!
//! `cargo bench -p auth-tests --bench lockout` (prints its table)
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use auth_core::{
    Auth, Authenticated, ClientInfo, Error, ExtraClaims, HashCost, Secret, TokenType,
    token_resource,
};
use auth_postgres::PgStore;
use auth_tests::bench::interleave;
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
    strategies(password()),
    add_ons(brute_force()),
)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub hashed_password: String,
    pub role: String,
}

const SECRET: &str = "lockout-bench-secret-0123456789abcdef0123456789abcdef";

fn auth(store: PgStore, brute_force: bool, cost: HashCost) -> Arc<Auth<User, PgStore>> {
    let mut settings = User::settings();
    if !brute_force {
        settings.brute_force = None;
    }
    Arc::new(
        Auth::with_secret(settings, &Secret::from(SECRET), store)
            .unwrap()
            .with_hash_cost(cost)
            .unwrap(),
    )
}

/// A failed sign-in of a never-seen identity from a never-seen address.
fn failing(
    auth: Arc<Auth<User, PgStore>>,
    n: Arc<AtomicU32>,
) -> impl Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>
+ Clone
+ Send
+ Sync
+ 'static {
    move || {
        let (auth, n) = (auth.clone(), n.clone());
        Box::pin(async move {
            let i = n.fetch_add(1, Ordering::Relaxed);
            let ip = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i));
            let email = format!("nobody{i}@example.com");
            let r = auth
                .sign_in_with_password(
                    &email,
                    "wrong password",
                    TokenType::User,
                    ClientInfo::new(None, Some(ip)),
                )
                .await;
            assert!(matches!(r, Err(Error::AuthenticationFailed)), "{r:?}");
        })
    }
}

fn main() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let db = auth_tests::pg::fresh_db().await;
        let store: PgStore = db.store.clone();
        println!(
            "| path | hash cost | tasks | with brute_force | without | median ratio (min–max) |"
        );
        println!("|---|---|---|---|---|---|");
        let n = Arc::new(AtomicU32::new(0));
        for (cost, name, rounds, ops) in [
            (HashCost::INSECURE_FAST_FOR_TESTS, "test", 15, 1_000),
            (HashCost::OWASP, "OWASP", 8, 40),
        ] {
            for tasks in [1, 16] {
                let with = failing(auth(store.clone(), true, cost), n.clone());
                let without = failing(auth(store.clone(), false, cost), n.clone());
                let run = interleave(tasks, rounds, ops, with, without).await;
                println!("| failed sign-in | {name} | {tasks} | {} |", run.cells());
            }
        }
        // Authentication: the same token through both runtimes.
        let (with, without) = (
            auth(store.clone(), true, HashCost::INSECURE_FAST_FOR_TESTS),
            auth(store.clone(), false, HashCost::INSECURE_FAST_FOR_TESTS),
        );
        let user = User {
            id: Uuid::new_v4(),
            email: "ada@example.com".into(),
            hashed_password: String::new(),
            role: "member".into(),
        };
        let signed = with
            .register_with_password(user, "password-1", Some("password-1"), ExtraClaims::new())
            .await
            .unwrap();
        let token: Arc<str> = signed.token.token.into();
        for tasks in [1, 16] {
            let op = |auth: Arc<Auth<User, PgStore>>, token: Arc<str>| {
                move || {
                    let (auth, token) = (auth.clone(), token.clone());
                    async move {
                        auth.authenticate(&token).await.unwrap();
                    }
                }
            };
            let run = interleave(
                tasks,
                15,
                2_000,
                op(with.clone(), token.clone()),
                op(without.clone(), token.clone()),
            )
            .await;
            println!("| authenticate | – | {tasks} | {} |", run.cells());
        }
    });
}
