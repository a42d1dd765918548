//! Throughput under concurrency: 64 tasks authenticating against PostgreSQL
//! for 10 s, ours and the hand-written baseline, on the same pool.
//! `cargo bench -p auth-tests --bench throughput` (prints a table; the
//! figures are requests/s and latency percentiles, not a criterion estimate).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use auth_tests::bench::{Jwt, percentiles};

const TASKS: usize = 64;
const RUN: Duration = Duration::from_secs(10);

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing to
    // do here quickly, so only run when asked to benchmark.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (db, auth, user, token) = rt.block_on(auth_tests::bench::pg_auth());
    let auth = Arc::new(auth);
    let pool = db.store.pool().clone();
    let jwt = Arc::new(Jwt::default());

    for ours in [true, false] {
        let deadline = Instant::now() + RUN;
        let tasks: Vec<_> = (0..TASKS)
            .map(|_| {
                let (auth, token, pool, jwt) =
                    (auth.clone(), token.clone(), pool.clone(), jwt.clone());
                let id = user.id.to_string();
                rt.spawn(async move {
                    let mut lat = Vec::new();
                    while Instant::now() < deadline {
                        let t = Instant::now();
                        if ours {
                            auth.authenticate(&token).await.unwrap();
                        } else {
                            let claims = jwt.claims(&token);
                            let jti = claims["jti"].as_str().unwrap().to_owned();
                            type Row = (String, String, String, String, Option<serde_json::Value>);
                            let _row: Row = sqlx::query_as(
                                "SELECT u.id::text, u.email, u.hashed_password, u.role, t.extra_data \
                                 FROM tokens t JOIN users u ON u.id = $2::uuid \
                                 WHERE t.jti = $1 AND t.expires_at > now() AND t.purpose = 'user' AND t.subject = $3",
                            )
                            .bind(jti)
                            .bind(&id)
                            .bind(claims["sub"].as_str().unwrap())
                            .fetch_one(&pool)
                            .await
                            .unwrap();
                        }
                        lat.push(t.elapsed());
                    }
                    lat
                })
            })
            .collect();
        let lat: Vec<Duration> = tasks
            .into_iter()
            .flat_map(|t| rt.block_on(t).unwrap())
            .collect();
        let n = lat.len();
        let (p50, p99, max) = percentiles(lat);
        let name = if ours {
            "ours: authenticate"
        } else {
            "baseline: decode + joined SELECT"
        };
        println!(
            "throughput | {name} | {TASKS} tasks, {} s | {:.0} req/s | p50 {p50:.0} µs, p99 {p99:.0} µs, max {max:.0} µs",
            RUN.as_secs(),
            n as f64 / RUN.as_secs_f64()
        );
    }
    drop(db);
}
