//! API-key authentication against token authentication on PostgreSQL,
//! **interleaved** as the floor benchmark is: rounds alternate a key's
//! authentication and a token's (deny-list, no session: one statement each)
//! on the same pool, and the ratio reported is the median of the rounds'
//! ratios. Then the write rate: how many `last_used_at` writes the
//! authentications caused.
//! `cargo bench -p auth-tests --bench api_keys` (prints its table)
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::borrow::Cow;
use std::sync::Arc;

use auth_core::{ApiKeyConfig, Auth, ExtraClaims, UserStore};
use auth_postgres::PgStore;
use auth_tests::bench::interleave;
use auth_tests::{User, settings};

const ROUNDS: usize = 25;
const OPS_PER_ROUND: usize = 2_000;

fn main() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let db = auth_tests::pg::fresh_db().await;
        let store: PgStore = db.store.clone();
        let user = User::new("ada@example.com");
        store.insert_user(&user).await.unwrap();
        let mut s = settings(false);
        s.api_key = Some(ApiKeyConfig {
            scopes: Cow::Borrowed(&["reports:read"]),
            ..ApiKeyConfig::new("bench")
        });
        let auth = Arc::new(Auth::from_settings(s, store.clone()).unwrap());
        let key: Arc<str> = auth
            .create_api_key(&user, "bench", &["reports:read"], None)
            .await
            .unwrap()
            .key
            .into();
        let token: Arc<str> = auth
            .token_for_user(&user, ExtraClaims::new())
            .await
            .unwrap()
            .token
            .into();
        println!(
            "| tasks | key per op | token per op | median ratio (min–max of {ROUNDS} rounds) |"
        );
        println!("|---|---|---|---|");
        for tasks in [1, 16] {
            let by_key = {
                let (auth, key) = (auth.clone(), key.clone());
                move || {
                    let (auth, key) = (auth.clone(), key.clone());
                    async move {
                        auth.authenticate_api_key(&key).await.unwrap();
                    }
                }
            };
            let by_token = {
                let (auth, token) = (auth.clone(), token.clone());
                move || {
                    let (auth, token) = (auth.clone(), token.clone());
                    async move {
                        auth.authenticate(&token).await.unwrap();
                    }
                }
            };
            let run = interleave(tasks, ROUNDS, OPS_PER_ROUND, by_key, by_token).await;
            println!("| {tasks} | {} |", run.cells());
        }
        // The write rate: every authentication above used one key.
        let authentications = 2 * (ROUNDS + 1) * OPS_PER_ROUND;
        let pending = auth.pending_api_key_uses();
        auth.flush_api_key_uses().await.unwrap();
        let stored: Option<chrono::DateTime<chrono::Utc>> =
            sqlx::query_scalar("SELECT last_used_at FROM tokens_api_keys")
                .fetch_one(store.pool())
                .await
                .unwrap();
        // One key, one interval: the first use was remembered and written
        // by the background flush (or by the final flush if still pending);
        // the authentications themselves never write.
        println!(
            "\n{authentications} key authentications: last_used_at written once (the first use, \
             {}; {pending} still pending before the final flush).",
            stored.map_or("unset".into(), |t| t.to_rfc3339())
        );
    });
}
