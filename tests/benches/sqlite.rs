//! SQLite: authenticate, issue, revoke and expunge 1 000 000 rows, each
//! against the same work hand-written with jsonwebtoken and sqlx SQLite
//! statements in the same run, on the same database file and the same
//! connections (the store's one writer, its readers).
//! `cargo bench -p auth-tests --bench sqlite`
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::{Duration, Instant};

use auth_core::token_actions;
use auth_core::{Auth, ExtraClaims, TokenResourceConfig, UserResource, UserStore};
use auth_sqlite::SqliteStore;
use auth_tests::bench::{Jwt, fresh_facts};
use auth_tests::{User, settings};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use serde_json::json;

const EXPIRED: i64 = 1_000_000;
const LIVE: i64 = 100_000;

fn micros_now() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// `n` rows expiring `offset_us` from now, tagged `tag`, in one statement.
async fn fill(store: &SqliteStore, n: i64, offset_us: i64, tag: &str) {
    sqlx::query(
        "WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < ?1) \
         INSERT INTO tokens (jti, subject, expires_at, purpose, created_at, updated_at) \
         SELECT ?2 || i, 'user?id=' || i, ?3, 'user', ?4, ?4 FROM g",
    )
    .bind(n)
    .bind(format!("{tag}-"))
    .bind(micros_now() + offset_us)
    .bind(micros_now())
    .execute(store.writer())
    .await
    .unwrap();
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(auth_tests::sqlite::fresh_db());
    let store = db.store.clone();
    let (writer, reader) = (store.writer().clone(), store.reader().clone());
    let jwt = Jwt::default();
    let res = TokenResourceConfig::default();

    let allow = Auth::from_settings(settings(true), store.clone()).unwrap();
    let deny = Auth::from_settings(settings(false), store.clone()).unwrap();
    let user = User::new("ada@example.com");
    rt.block_on(allow.store().insert_user(&user)).unwrap();
    let allow_token = rt
        .block_on(allow.token_for_user(&user, ExtraClaims::new()))
        .unwrap()
        .token;
    let deny_token = rt
        .block_on(deny.token_for_user(&user, ExtraClaims::new()))
        .unwrap()
        .token;
    // Realistic size: other users' rows beside ours.
    rt.block_on(fill(&store, LIVE, 3_600_000_000, "live"));

    let mut g = c.benchmark_group("authenticate/sqlite");
    g.bench_function("ours (allow-list, user loaded)", |b| {
        b.to_async(&rt).iter(|| allow.authenticate(&allow_token))
    });
    g.bench_function("baseline: decode + one joined SELECT (allow-list)", |b| {
        b.to_async(&rt).iter(|| async {
            let claims = jwt.claims(&allow_token);
            type Row = (String, String, String, String, Option<String>);
            let (id, email, hashed_password, role, extra): Row = sqlx::query_as(
                "SELECT u.id, u.email, u.hashed_password, u.role, t.extra_data \
                 FROM tokens t JOIN users u ON u.id = ?2 \
                 WHERE t.jti = ?1 AND t.expires_at > ?4 AND t.purpose = 'user' AND t.subject = ?3",
            )
            .bind(claims["jti"].as_str().unwrap())
            .bind(user.id.to_string())
            .bind(claims["sub"].as_str().unwrap())
            .bind(micros_now())
            .fetch_one(&reader)
            .await
            .unwrap();
            let extra: Option<serde_json::Value> = extra.map(|e| serde_json::from_str(&e).unwrap());
            (User::from((id, email, hashed_password, role)), extra)
        })
    });
    g.bench_function("ours (deny-list, user loaded)", |b| {
        b.to_async(&rt).iter(|| deny.authenticate(&deny_token))
    });
    g.bench_function(
        "baseline: decode + one SELECT of the user unless revoked (deny-list)",
        |b| {
            b.to_async(&rt).iter(|| async {
                let claims = jwt.claims(&deny_token);
                let row: (String, String, String, String) = sqlx::query_as(
                    "SELECT id, email, hashed_password, role FROM users WHERE id = ?2 \
                 AND NOT EXISTS (SELECT 1 FROM tokens WHERE jti = ?1 AND purpose = 'revocation')",
                )
                .bind(claims["jti"].as_str().unwrap())
                .bind(user.id.to_string())
                .fetch_one(&reader)
                .await
                .unwrap();
                User::from(row)
            })
        },
    );
    g.finish();

    let mut g = c.benchmark_group("issue/sqlite (store_all_tokens)");
    g.bench_function("ours: token_for_user", |b| {
        b.to_async(&rt)
            .iter(|| allow.token_for_user(&user, ExtraClaims::new()))
    });
    g.bench_function("baseline: jsonwebtoken::encode + INSERT", |b| {
        b.to_async(&rt).iter(|| async {
            let (t, jti, exp) = jwt.user_token(&user);
            sqlx::query(
                "INSERT INTO tokens (jti, subject, expires_at, purpose, extra_data, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, 'user', ?4, ?5, ?5)",
            )
            .bind(&jti)
            .bind(user.subject())
            .bind(exp * 1_000_000)
            .bind(json!({"role": user.role}).to_string())
            .bind(micros_now())
            .execute(&writer)
            .await
            .unwrap();
            t
        })
    });
    g.finish();

    let fresh = || fresh_facts(&user);
    let mut g = c.benchmark_group("revoke/sqlite");
    g.bench_function("ours: revoke_token action", |b| {
        b.to_async(&rt).iter_batched(
            fresh,
            |f| {
                let (store, res) = (&store, &res);
                async move { token_actions::revoke_token(store, res, &f).await.unwrap() }
            },
            BatchSize::SmallInput,
        )
    });
    // The bare revocation, and the store's own statement for reference.
    for (name, revoke) in [
        (
            "baseline: INSERT … ON CONFLICT",
            "INSERT INTO tokens (jti, subject, expires_at, purpose, created_at, updated_at) \
             VALUES (?1, ?2, ?3, 'revocation', ?4, ?4) \
             ON CONFLICT (jti) DO UPDATE SET purpose = 'revocation'",
        ),
        (
            "reference: the store's own upsert (… WHERE purpose <> 'revocation' RETURNING 1)",
            "INSERT INTO tokens (jti, subject, expires_at, purpose, extra_data, created_at, updated_at) \
             VALUES (?1, ?2, ?3, 'revocation', NULL, ?4, ?4) \
             ON CONFLICT (jti) DO UPDATE SET purpose = 'revocation', subject = excluded.subject, \
             expires_at = excluded.expires_at, extra_data = NULL, updated_at = excluded.updated_at \
             WHERE tokens.purpose <> 'revocation' RETURNING 1",
        ),
    ] {
        g.bench_function(name, |b| {
            b.to_async(&rt).iter_batched(
                fresh,
                |f| {
                    let writer = &writer;
                    async move {
                        sqlx::query(revoke)
                            .bind(&f.jti)
                            .bind(&f.subject)
                            .bind(f.expires_at.timestamp_micros())
                            .bind(micros_now())
                            .fetch_optional(writer)
                            .await
                            .unwrap()
                    }
                },
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();

    // Expunge: 1 000 000 expired rows beside the live ones, refilled before
    // each measured run (the refill is not timed).
    let mut g = c.benchmark_group("expunge 1M/sqlite");
    g.sample_size(10);
    for ours in [true, false] {
        let name = if ours {
            "ours: expunge_expired (batches of 50 000)"
        } else {
            "baseline: one DELETE … WHERE expires_at < now"
        };
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    rt.block_on(fill(&store, EXPIRED, -3_600_000_000, "x"));
                    let started = Instant::now();
                    let removed = if ours {
                        rt.block_on(token_actions::expunge_expired(&store, &res))
                            .unwrap()
                    } else {
                        rt.block_on(
                            sqlx::query("DELETE FROM tokens WHERE expires_at < ?1")
                                .bind(micros_now())
                                .execute(&writer),
                        )
                        .unwrap()
                        .rows_affected()
                    };
                    total += started.elapsed();
                    assert_eq!(removed, EXPIRED as u64);
                }
                total
            })
        });
    }
    g.finish();
    rt.block_on(store.close());
    drop(db);
}

criterion_group!(benches, bench);
criterion_main!(benches);
