//! Issue + store, and revoke, on PostgreSQL, against bare jsonwebtoken and SQL.
//! `cargo bench -p auth-tests --bench tokens`
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use auth_core::token_actions;
use auth_core::{ExtraClaims, TokenResourceConfig, UserResource};
use auth_tests::bench::{Jwt, fresh_facts};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use serde_json::json;

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (db, auth, user, _) = rt.block_on(auth_tests::bench::pg_auth());
    let pool = db.store.pool().clone();
    let jwt = Jwt::default();
    let res = TokenResourceConfig::default();

    let mut g = c.benchmark_group("issue/postgres (store_all_tokens)");
    g.bench_function("ours: token_for_user", |b| {
        b.to_async(&rt)
            .iter(|| auth.token_for_user(&user, ExtraClaims::new()))
    });
    g.bench_function("baseline: jsonwebtoken::encode + INSERT", |b| {
        b.to_async(&rt).iter(|| async {
            let (t, jti, exp) = jwt.user_token(&user);
            sqlx::query(
                "INSERT INTO tokens (jti, subject, expires_at, purpose, extra_data) \
                 VALUES ($1, $2, to_timestamp($3), 'user', $4)",
            )
            .bind(&jti)
            .bind(user.subject())
            .bind(exp as f64)
            .bind(json!({"role": user.role}))
            .execute(&pool)
            .await
            .unwrap();
            t
        })
    });
    g.bench_function("reference: the same INSERT as the store_token upsert (ON CONFLICT … RETURNING)", |b| {
        b.to_async(&rt).iter(|| async {
            sqlx::query(
                "INSERT INTO tokens (jti, subject, expires_at, purpose, extra_data) VALUES ($1, $2, now(), 'user', $3) \
                 ON CONFLICT (jti) DO UPDATE SET purpose = EXCLUDED.purpose WHERE tokens.purpose <> 'revocation' RETURNING 1",
            )
            .bind(auth_core::new_jti())
            .bind(user.subject())
            .bind(json!({"role": user.role}))
            .fetch_optional(&pool)
            .await
            .unwrap()
        })
    });
    g.finish();

    let fresh = || fresh_facts(&user);
    let mut g = c.benchmark_group("revoke/postgres");
    g.bench_function("ours: revoke_token action", |b| {
        b.to_async(&rt).iter_batched(
            fresh,
            |f| {
                let (store, res) = (&db.store, &res);
                async move { token_actions::revoke_token(store, res, &f).await.unwrap() }
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("baseline: INSERT … ON CONFLICT", |b| {
        b.to_async(&rt).iter_batched(
            fresh,
            |f| {
                let pool = &pool;
                async move {
                    sqlx::query(
                        "INSERT INTO tokens (jti, subject, expires_at, purpose) VALUES ($1, $2, $3, 'revocation') \
                         ON CONFLICT (jti) DO UPDATE SET purpose = 'revocation'",
                    )
                    .bind(&f.jti)
                    .bind(&f.subject)
                    .bind(f.expires_at)
                    .execute(pool)
                    .await
                    .unwrap()
                }
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
    drop(db);
}

criterion_group!(benches, bench);
criterion_main!(benches);
