//! Expunge 1 000 000 expired rows (100 000 live beside them) against one bare
//! DELETE, and the latency of authentications running meanwhile.
//! `cargo bench -p auth-tests --bench expunge`
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use auth_core::TokenResourceConfig;
use auth_core::token;
use auth_postgres::PgStore;
use auth_tests::bench::{fill_tokens, percentiles};
use criterion::{Criterion, criterion_group, criterion_main};

const EXPIRED: u64 = 1_000_000;
const LIVE: u64 = 100_000;

async fn refill(store: &PgStore) {
    sqlx::raw_sql("DELETE FROM tokens WHERE jti LIKE 'x-%' OR jti LIKE 'l-%'")
        .execute(store.pool())
        .await
        .unwrap();
    fill_tokens(store, EXPIRED, "-1 hour", "x").await;
    fill_tokens(store, LIVE, "1 hour", "l").await;
}

async fn bare_delete(store: &PgStore) -> u64 {
    sqlx::query("DELETE FROM tokens WHERE expires_at < now()")
        .execute(store.pool())
        .await
        .unwrap()
        .rows_affected()
}

async fn expunge(ours: bool, store: &PgStore) -> u64 {
    if ours {
        token::expunge_expired(store, &TokenResourceConfig::default())
            .await
            .unwrap()
    } else {
        bare_delete(store).await
    }
}

const CASES: [(bool, &str); 2] = [
    (
        true,
        "ours: expunge_expired (batches of 50 000, advisory try-lock)",
    ),
    (false, "baseline: one DELETE … WHERE expires_at < now()"),
];

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (db, _auth, _user, token) = rt.block_on(auth_tests::bench::pg_auth());
    let store = db.store.clone();

    // Lock impact: authentications from 8 tasks while each expunge runs once.
    for (ours, name) in CASES {
        rt.block_on(refill(&store));
        let stop = Arc::new(AtomicBool::new(false));
        let workers: Vec<_> = (0..8)
            .map(|_| {
                let (stop, token) = (stop.clone(), token.clone());
                let auth = auth_tests::auth(true, store.clone());
                rt.spawn(async move {
                    let mut lat = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        let t = Instant::now();
                        auth.authenticate(&token).await.unwrap();
                        lat.push(t.elapsed());
                    }
                    lat
                })
            })
            .collect();
        rt.block_on(async { tokio::time::sleep(Duration::from_millis(300)).await });
        let started = Instant::now();
        let removed = rt.block_on(expunge(ours, &store));
        let took = started.elapsed();
        stop.store(true, Ordering::Relaxed);
        let lat: Vec<Duration> = workers
            .into_iter()
            .flat_map(|w| rt.block_on(w).unwrap())
            .collect();
        let n = lat.len();
        let (p50, p99, max) = percentiles(lat);
        println!(
            "expunge-lock-impact | {name} | removed {removed} in {:.2} s | {n} concurrent authentications: p50 {p50:.0} µs, p99 {p99:.0} µs, max {max:.0} µs",
            took.as_secs_f64(),
        );
    }

    let mut g = c.benchmark_group("expunge/postgres (1M expired + 100k live)");
    // One expunge per sample: each needs 1.1M fresh rows first.
    g.sample_size(10)
        .sampling_mode(criterion::SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(Duration::from_secs(1));
    for (ours, name) in CASES {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    rt.block_on(refill(&store));
                    let t = Instant::now();
                    assert_eq!(rt.block_on(expunge(ours, &store)), EXPIRED);
                    total += t.elapsed();
                }
                total
            })
        });
    }
    g.finish();
    drop(db);
}

criterion_group!(benches, bench);
criterion_main!(benches);
