//! Expunge 1 000 000 expired rows (100 000 live beside them) against one bare
//! DELETE, and the latency of authentications running meanwhile.
//! `cargo bench -p auth-tests --bench expunge`
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use auth_core::TokenResourceConfig;
use auth_core::token_actions;
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

/// Physical-order batches: a TID range scan over ~50 000 rows' worth of
/// pages at a time, deleting the expired rows there (PostgreSQL 14+). The
/// follow-up of table 5: no index-order heap access.
async fn tid_batches(store: &PgStore) -> u64 {
    let pages: i64 = sqlx::query_scalar(
        "SELECT (pg_relation_size('tokens') / current_setting('block_size')::int)::bigint",
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    const PAGES_PER_BATCH: i64 = 700;
    let mut removed = 0;
    let mut start = 0;
    while start <= pages {
        let end = start + PAGES_PER_BATCH;
        removed += sqlx::query(
            "DELETE FROM tokens WHERE ctid >= $1::tid AND ctid < $2::tid AND expires_at < now()",
        )
        .bind(format!("({start},0)"))
        .bind(format!("({end},0)"))
        .execute(store.pool())
        .await
        .unwrap()
        .rows_affected();
        start = end;
    }
    removed
}

#[derive(Clone, Copy)]
enum Way {
    Ours,
    TidBatches,
    Bare,
}

async fn expunge(way: Way, store: &PgStore) -> u64 {
    match way {
        Way::Ours => token_actions::expunge_expired(store, &TokenResourceConfig::default())
            .await
            .unwrap(),
        Way::TidBatches => tid_batches(store).await,
        Way::Bare => bare_delete(store).await,
    }
}

const CASES: [(Way, &str); 3] = [
    (
        Way::Ours,
        "ours: expunge_expired (batches of 50 000, advisory try-lock)",
    ),
    (
        Way::TidBatches,
        "experiment: TID-range batches of 700 pages (physical order)",
    ),
    (Way::Bare, "baseline: one DELETE … WHERE expires_at < now()"),
];

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (db, _auth, _user, token) = rt.block_on(auth_tests::bench::pg_auth());
    let store = db.store.clone();

    // Lock impact: authentications from 8 tasks while each expunge runs once.
    for (way, name) in CASES {
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
        let removed = rt.block_on(expunge(way, &store));
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
    for (way, name) in CASES {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    rt.block_on(refill(&store));
                    let t = Instant::now();
                    assert_eq!(rt.block_on(expunge(way, &store)), EXPIRED);
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
