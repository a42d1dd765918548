//! Cached authentication against a bare `jsonwebtoken` decode plus a
//! `HashMap` lookup, and throughput at 64 tasks with and without the cache,
//! on PostgreSQL (the cache listening through `listen_for_invalidations`).
//! `cargo bench -p auth-tests --bench cache` (prints the throughput table)
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use auth_core::{Auth, AuthCache, CacheConfig, ExtraClaims, UserResource, UserStore};
use auth_tests::bench::Jwt;
use auth_tests::{User, settings};
use criterion::{Criterion, criterion_group, criterion_main};

/// Authentications per second from `tasks` tasks for `for_how_long`.
fn throughput<U: UserResource, S: auth_core::TokenStore + UserStore<U> + 'static>(
    rt: &tokio::runtime::Runtime,
    auth: Arc<Auth<U, S>>,
    token: Arc<str>,
    tasks: usize,
    for_how_long: Duration,
) -> f64 {
    rt.block_on(async {
        let started = Instant::now();
        let handles: Vec<_> = (0..tasks)
            .map(|_| {
                let (auth, token) = (auth.clone(), token.clone());
                tokio::spawn(async move {
                    let mut n = 0u64;
                    while started.elapsed() < for_how_long {
                        auth.authenticate(&token).await.unwrap();
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        let mut total = 0;
        for h in handles {
            total += h.await.unwrap();
        }
        total as f64 / started.elapsed().as_secs_f64()
    })
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(auth_tests::pg::fresh_db());
    let store = db.store.clone();
    let user = User::new("ada@example.com");
    rt.block_on(store.insert_user(&user)).unwrap();
    let jwt = Jwt::default();

    let mut rows = Vec::new();
    for allow_list in [false, true] {
        let mode = if allow_list {
            "allow-list"
        } else {
            "deny-list"
        };
        let cache = AuthCache::new(CacheConfig::default());
        let listener = rt
            .block_on(store.listen_for_invalidations::<User>(cache.clone()))
            .unwrap();
        while !cache.is_listening() {
            std::thread::sleep(Duration::from_millis(5));
        }
        let cached = Arc::new(
            Auth::from_settings(settings(allow_list), store.clone())
                .unwrap()
                .with_cache(cache.clone()),
        );
        let uncached = Arc::new(Auth::from_settings(settings(allow_list), store.clone()).unwrap());
        let token: Arc<str> = rt
            .block_on(cached.token_for_user(&user, ExtraClaims::new()))
            .unwrap()
            .token
            .into();

        // Until the cache answers: the sign-in's own invalidation may evict
        // the first entry.
        while cache.stats().hits == 0 {
            rt.block_on(cached.authenticate(&token)).unwrap();
        }
        let mut g = c.benchmark_group(format!("authenticate/cached ({mode})"));
        g.bench_function("ours: authenticate, cache hit", |b| {
            b.to_async(&rt).iter(|| cached.authenticate(&token))
        });
        let users: HashMap<String, User> = HashMap::from([(user.subject(), user.clone())]);
        g.bench_function("baseline: jsonwebtoken::decode + HashMap", |b| {
            b.iter(|| {
                let claims = jwt.claims(&token);
                users.get(claims["sub"].as_str().unwrap()).cloned()
            })
        });
        g.finish();
        let stats = cache.stats();
        assert!(stats.hits > 0 && stats.bypassed == 0, "{stats:?}");

        let second = Duration::from_secs(3);
        let with = throughput(&rt, cached.clone(), token.clone(), 64, second);
        let without = throughput(&rt, uncached.clone(), token.clone(), 64, second);
        rows.push(format!(
            "| {mode} | {without:.0}/s | {with:.0}/s | {:.1}x |",
            with / without
        ));
        rt.block_on(listener.shutdown());
    }
    println!("\n| mode | 64 tasks, no cache | 64 tasks, cache | gain |\n|---|---|---|---|");
    for r in rows {
        println!("{r}");
    }
    drop(db);
}

criterion_group!(benches, bench);
criterion_main!(benches);
