//! What storing security events costs, on PostgreSQL, interleaved against
//! the same runtime without the `audit_log` add-on (same pool, same
//! cluster):
//! - a sign-in (its session and token rows; with stored events, the event
//!   in the same transaction: `BEGIN`, the rows, the event, `COMMIT`);
//! - an authentication (unchanged: authenticating records nothing);
//! - a sign-out (its session ended; with stored events, the event in the
//!   same statement, only when a session ended);
//! - a log-out-everywhere (every row of the user revoked; the event in the
//!   same statement).
//!
//! `cargo bench -p auth-tests --bench audit` (prints its table)
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;

use auth_core::{Auth, Authenticated, ClientInfo, Secret, UserStore, token_resource};
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
    add_ons(sessions(), audit_log(ip = hash)),
)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub hashed_password: String,
    pub role: String,
}

const SECRET: &str = "audit-bench-secret-0123456789abcdef0123456789abcdef";

fn auth(store: PgStore, stored: bool) -> Arc<Auth<User, PgStore>> {
    let mut settings = User::settings();
    if !stored {
        settings.audit_log = None;
    }
    let auth = Auth::with_secret(settings, &Secret::from(SECRET), store).unwrap();
    Arc::new(if stored {
        auth.store_audit_events()
    } else {
        auth
    })
}

fn main() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let db = auth_tests::pg::fresh_db().await;
        let store: PgStore = db.store.clone();
        let user = User {
            id: Uuid::new_v4(),
            email: "ada@example.com".into(),
            hashed_password: String::new(),
            role: "member".into(),
        };
        store.insert_user(&user).await.unwrap();
        let (with, without) = (auth(store.clone(), true), auth(store.clone(), false));
        println!("| path | tasks | events stored | no audit_log | median ratio (min–max) |");
        println!("|---|---|---|---|---|");
        let client = ClientInfo::new(Some("bench/1"), Some("192.0.2.1".parse().unwrap()));
        for tasks in [1, 16] {
            let op = |auth: Arc<Auth<User, PgStore>>| {
                let (user, client) = (user.clone(), client.clone());
                move || {
                    let (auth, user, client) = (auth.clone(), user.clone(), client.clone());
                    async move {
                        auth.sign_in(user, client).await.unwrap();
                    }
                }
            };
            let run = interleave(tasks, 15, 500, op(with.clone()), op(without.clone())).await;
            println!("| sign-in | {tasks} | {} |", run.cells());
        }
        let token: Arc<str> = with
            .sign_in(user.clone(), client.clone())
            .await
            .unwrap()
            .token
            .token
            .into();
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
            println!("| authenticate | {tasks} | {} |", run.cells());
        }
        const SIGN_OUTS: usize = 200;
        for tasks in [1, 16] {
            // Each sign-out needs a session of its own: signed in
            // beforehand, one per operation of each side (rounds plus the
            // warm-up).
            let sessions = |auth: Arc<Auth<User, PgStore>>| {
                let (user, client) = (user.clone(), client.clone());
                async move {
                    let mut tokens = Vec::with_capacity(16 * SIGN_OUTS);
                    for _ in 0..16 * SIGN_OUTS {
                        let signed = auth.sign_in(user.clone(), client.clone()).await.unwrap();
                        tokens.push(signed.token.token);
                    }
                    Arc::new(std::sync::Mutex::new(tokens))
                }
            };
            let op = |auth: Arc<Auth<User, PgStore>>,
                      tokens: Arc<std::sync::Mutex<Vec<String>>>| {
                move || {
                    let (auth, tokens) = (auth.clone(), tokens.clone());
                    async move {
                        let token = tokens.lock().unwrap().pop().unwrap();
                        auth.revoke(&token).await.unwrap();
                    }
                }
            };
            let (a, b) = (
                sessions(with.clone()).await,
                sessions(without.clone()).await,
            );
            let run = interleave(
                tasks,
                15,
                SIGN_OUTS,
                op(with.clone(), a),
                op(without.clone(), b),
            )
            .await;
            println!("| sign-out | {tasks} | {} |", run.cells());
        }
        for tasks in [1, 16] {
            let op = |auth: Arc<Auth<User, PgStore>>| {
                let user = user.clone();
                move || {
                    let (auth, user) = (auth.clone(), user.clone());
                    async move {
                        auth.log_out_everywhere(&user).await.unwrap();
                    }
                }
            };
            let run = interleave(tasks, 15, 500, op(with.clone()), op(without.clone())).await;
            println!("| log out everywhere | {tasks} | {} |", run.cells());
        }
    });
}
