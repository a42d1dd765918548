//! Authentication on PostgreSQL against its hand-written one-statement floor,
//! **interleaved**: rounds alternate ours and the floor on the same pool, so
//! the machine's drift (two cores shared with PostgreSQL) hits both alike;
//! the ratio reported is the median of the rounds' ratios. 1 and 16 tasks,
//! deny-list and allow-list mode, each without sessions (the floor reads
//! one token row) and with the sessions add-on (the floor joins the
//! session's row: the joined floor).
//! `cargo bench -p auth-tests --bench floor` (prints its table; `FLOOR_ROUNDS`
//! and `FLOOR_MODES` narrow or widen it)
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;

use auth_core::{Auth, ExtraClaims, SessionsConfig, UserStore};
use auth_postgres::{PgPool, PgStore};
use auth_tests::bench::Jwt;
use auth_tests::bench::interleave;
use auth_tests::{User, settings};

/// Rounds per path unless `FLOOR_ROUNDS` says otherwise (more rounds, a
/// tighter median: each round's ratio moves by ±20 % on two shared cores).
const ROUNDS: usize = 25;
const OPS_PER_ROUND: usize = 2_000;

fn rounds() -> usize {
    std::env::var("FLOOR_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .filter(|r| *r > 0)
        .unwrap_or(ROUNDS)
}

/// The floor: decode, then one statement returning the user (and, in
/// allow-list mode, the stored claims); with a session, the same statement
/// also requires the session's row live (`$3`).
async fn floor(pool: &PgPool, jwt: &Jwt, token: &str, allow_list: bool, id: &str) -> User {
    let claims = jwt.claims(token);
    let jti = claims["jti"].as_str().unwrap();
    let sid = claims.get("sid").and_then(|s| s.as_str());
    // Allow-list mode returns the stored claims too (ours restores them).
    let sql = match (allow_list, sid.is_some()) {
        (true, false) => {
            "SELECT u.id::text, u.email, u.hashed_password, u.role, t.extra_data FROM tokens t \
             JOIN users u ON u.id = $2::uuid WHERE t.jti = $1 AND t.expires_at > now() AND t.purpose = 'user'"
        }
        (false, false) => {
            "SELECT id::text, email, hashed_password, role, NULL::jsonb FROM users WHERE id = $2::uuid \
             AND NOT EXISTS (SELECT 1 FROM tokens WHERE jti = $1 AND purpose = 'revocation')"
        }
        (true, true) => {
            "SELECT u.id::text, u.email, u.hashed_password, u.role, t.extra_data FROM tokens t \
             JOIN tokens s ON s.jti = $3 AND s.purpose = 'session' AND s.expires_at > now() \
             JOIN users u ON u.id = $2::uuid WHERE t.jti = $1 AND t.expires_at > now() AND t.purpose = 'user'"
        }
        (false, true) => {
            "SELECT u.id::text, u.email, u.hashed_password, u.role, NULL::jsonb FROM users u \
             JOIN tokens s ON s.jti = $3 AND s.purpose = 'session' AND s.expires_at > now() \
             WHERE u.id = $2::uuid \
             AND NOT EXISTS (SELECT 1 FROM tokens WHERE jti = $1 AND purpose = 'revocation')"
        }
    };
    type Row = (String, String, String, String, Option<serde_json::Value>);
    let mut query = sqlx::query_as(sql).bind(jti).bind(id);
    if let Some(sid) = sid {
        query = query.bind(sid);
    }
    let (id, email, hashed_password, role, _claims): Row = query.fetch_one(pool).await.unwrap();
    User::from((id, email, hashed_password, role))
}

/// The modes to run: all, or those `FLOOR_MODES` names (comma-separated
/// labels as printed, `;` between them: `allow-list, session;deny-list`).
fn wanted(label: &str) -> bool {
    std::env::var("FLOOR_MODES")
        .map(|m| m.split(';').any(|w| w.trim() == label))
        .unwrap_or(true)
}

fn main() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let db = auth_tests::pg::fresh_db().await;
        let store: PgStore = db.store.clone();
        let pool = store.pool().clone();
        let user = User::new("ada@example.com");
        store.insert_user(&user).await.unwrap();
        let jwt = Arc::new(Jwt::default());
        let rounds = rounds();
        println!("| mode | tasks | ours per op | floor per op | median ratio (min–max of {rounds} rounds) |");
        println!("|---|---|---|---|---|");
        for (allow_list, sessions) in [(false, false), (true, false), (false, true), (true, true)] {
            let label = format!(
                "{}{}",
                if allow_list { "allow-list" } else { "deny-list" },
                if sessions { ", session" } else { "" }
            );
            if !wanted(&label) {
                continue;
            }
            let mut settings = settings(allow_list);
            if sessions {
                settings.sessions = Some(SessionsConfig::default());
            }
            let auth = Arc::new(Auth::from_settings(settings, store.clone()).unwrap());
            let token: Arc<str> = if sessions {
                auth.sign_in(user.clone(), ExtraClaims::new()).await.unwrap().token.token.into()
            } else {
                auth.token_for_user(&user, ExtraClaims::new()).await.unwrap().token.into()
            };
            let id: Arc<str> = user.id.to_string().into();
            for tasks in [1, 16] {
                let ours = {
                    let (auth, token) = (auth.clone(), token.clone());
                    move || {
                        let (auth, token) = (auth.clone(), token.clone());
                        async move {
                            auth.authenticate(&token).await.unwrap();
                        }
                    }
                };
                let base = {
                    let (pool, jwt, token, id) =
                        (pool.clone(), jwt.clone(), token.clone(), id.clone());
                    move || {
                        let (pool, jwt, token, id) =
                            (pool.clone(), jwt.clone(), token.clone(), id.clone());
                        async move {
                            floor(&pool, &jwt, &token, allow_list, &id).await;
                        }
                    }
                };
                let run = interleave(tasks, rounds, OPS_PER_ROUND, ours, base).await;
                println!("| {label} | {tasks} | {} |", run.cells());
            }
        }
    });
}
