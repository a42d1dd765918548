//! Verify + authenticate a bearer token against raw baselines in the same run.
//! `cargo bench -p auth-tests --bench authenticate` (PostgreSQL: DATABASE_URL
//! or a throwaway cluster, as for the tests).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::HashMap;

use auth_core::{Auth, ExtraClaims, MemoryStore, UserResource, UserStore};
use auth_tests::bench::Jwt;
use auth_tests::{User, settings};
use criterion::{Criterion, criterion_group, criterion_main};

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let jwt = Jwt::default();

    let mut g = c.benchmark_group("authenticate/memory");
    for allow_list in [false, true] {
        let auth = Auth::from_settings(settings(allow_list), MemoryStore::new()).unwrap();
        let user = User::new("ada@example.com");
        rt.block_on(auth.store().insert_user(&user)).unwrap();
        let token = rt
            .block_on(auth.token_for_user(&user, ExtraClaims::new()))
            .unwrap()
            .token;
        let mode = if allow_list {
            "allow-list"
        } else {
            "deny-list"
        };
        g.bench_function(format!("ours ({mode})"), |b| {
            b.to_async(&rt).iter(|| auth.authenticate(&token))
        });
        let users: HashMap<String, User> = HashMap::from([(user.subject(), user.clone())]);
        g.bench_function(
            format!("baseline: jsonwebtoken::decode + HashMap ({mode})"),
            |b| {
                b.iter(|| {
                    let claims = jwt.claims(&token);
                    users.get(claims["sub"].as_str().unwrap()).cloned()
                })
            },
        );
    }
    g.finish();

    let (db, auth, user, token) = rt.block_on(auth_tests::bench::pg_auth());
    let pool = db.store.pool().clone();

    let mut g = c.benchmark_group("authenticate/postgres");
    g.bench_function("ours (allow-list, user loaded)", |b| {
        b.to_async(&rt).iter(|| auth.authenticate(&token))
    });
    g.bench_function("baseline: decode + presence SELECT + user SELECT (2 round trips)", |b| {
        b.to_async(&rt).iter(|| async {
            let claims = jwt.claims(&token);
            let jti = claims["jti"].as_str().unwrap();
            let present: Option<(String,)> = sqlx::query_as(
                "SELECT purpose FROM tokens WHERE jti = $1 AND expires_at > now() AND purpose = 'user'",
            )
            .bind(jti)
            .fetch_optional(&pool)
            .await
            .unwrap();
            assert!(present.is_some());
            let row: (String, String, String, String) = sqlx::query_as(
                "SELECT id::text, email, hashed_password, role FROM users WHERE id = $1::uuid",
            )
            .bind(user.id.to_string())
            .fetch_one(&pool)
            .await
            .unwrap();
            User::from(row)
        })
    });
    g.bench_function("baseline: decode + one joined SELECT (1 round trip)", |b| {
        b.to_async(&rt).iter(|| async {
            let claims = jwt.claims(&token);
            let jti = claims["jti"].as_str().unwrap();
            type Row = (String, String, String, String, Option<serde_json::Value>);
            let (id, email, hashed_password, role, extra): Row = sqlx::query_as(
                "SELECT u.id::text, u.email, u.hashed_password, u.role, t.extra_data \
                 FROM tokens t JOIN users u ON u.id = $2::uuid \
                 WHERE t.jti = $1 AND t.expires_at > now() AND t.purpose = 'user' AND t.subject = $3",
            )
            .bind(jti)
            .bind(user.id.to_string())
            .bind(claims["sub"].as_str().unwrap())
            .fetch_one(&pool)
            .await
            .unwrap();
            (User::from((id, email, hashed_password, role)), extra)
        })
    });

    // Deny-list mode: the token's row (a revocation?) and the user, one round trip.
    let deny = Auth::from_settings(settings(false), db.store.clone()).unwrap();
    let deny_token = rt
        .block_on(deny.token_for_user(&user, ExtraClaims::new()))
        .unwrap()
        .token;
    g.bench_function("ours (deny-list, user loaded)", |b| {
        b.to_async(&rt).iter(|| deny.authenticate(&deny_token))
    });
    g.bench_function(
        "baseline: decode + one SELECT of the user unless revoked (deny-list)",
        |b| {
            b.to_async(&rt).iter(|| async {
                let claims = jwt.claims(&deny_token);
                let jti = claims["jti"].as_str().unwrap();
                let row: (String, String, String, String) = sqlx::query_as(
                    "SELECT id::text, email, hashed_password, role FROM users WHERE id = $2::uuid \
                 AND NOT EXISTS (SELECT 1 FROM tokens WHERE jti = $1 AND purpose = 'revocation')",
                )
                .bind(jti)
                .bind(user.id.to_string())
                .fetch_one(&pool)
                .await
                .unwrap();
                User::from(row)
            })
        },
    );
    g.finish();

    // Scaling: the lookup is by primary key, so latency should not depend on
    // how many rows the token table holds.
    let mut g = c.benchmark_group("authenticate/postgres/rows-in-table");
    let mut filled = 0;
    for n in [10_000u64, 100_000, 1_000_000] {
        rt.block_on(auth_tests::bench::fill_tokens(
            &db.store,
            n - filled,
            "1 hour",
            &format!("s{n}"),
        ));
        filled = n;
        g.bench_function(format!("{n}"), |b| {
            b.to_async(&rt).iter(|| auth.authenticate(&token))
        });
    }
    g.finish();
    drop(db);
}

criterion_group!(benches, bench);
criterion_main!(benches);
