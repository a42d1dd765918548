//! Sessions on PostgreSQL against hand-written baselines in the same run:
//! authenticating a token with `sid` (allow-list mode; token, session and
//! user in one round trip) and a refresh rotation (the user and session read,
//! two tokens signed, one statement that marks the old token used, inserts
//! the new rows and touches the session). The baselines find every row by
//! its key as ours do (`(…) IS TRUE` keeps the planner off the
//! `(subject, purpose)` index, which this benchmark's many sessions of one
//! subject would make slow).
//! `cargo bench -p auth-tests --bench sessions`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::Instant;

use auth_core::{Auth, ClientInfo, Lifetime, RefreshConfig, SessionsConfig, UserStore};
use auth_tests::bench::Jwt;
use auth_tests::{User, settings};
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(auth_tests::pg::fresh_db());
    let mut s = settings(true);
    s.tokens.token_lifetime = Lifetime::from_secs(15 * 60);
    s.sessions = Some(SessionsConfig::default());
    s.refresh_tokens = Some(RefreshConfig::default());
    let auth = Auth::from_settings(s, db.store.clone()).unwrap();
    let user = User::new("ada@example.com");
    rt.block_on(auth.store().insert_user(&user)).unwrap();
    let signed = rt
        .block_on(auth.sign_in(user.clone(), ClientInfo::default()))
        .unwrap();
    let (token, sid) = (signed.token.token.clone(), signed.session.clone().unwrap());
    let pool = db.store.pool().clone();
    let jwt = Jwt::default();

    let mut g = c.benchmark_group("sessions/postgres");
    g.bench_function("authenticate with sid: ours (allow-list)", |b| {
        b.to_async(&rt).iter(|| auth.authenticate(&token))
    });
    g.bench_function("authenticate with sid: baseline decode + one joined SELECT", |b| {
        b.to_async(&rt).iter(|| async {
            let c = &jwt.claims(&token);
            type Row = (String, String, String, String, Option<Value>);
            let _row: Row = sqlx::query_as(
                "SELECT u.id::text, u.email, u.hashed_password, u.role, t.extra_data \
                 FROM tokens t JOIN tokens s ON s.jti = $3 AND (s.purpose = 'session' \
                 AND s.subject = $4 AND s.expires_at > now()) IS TRUE \
                 JOIN users u ON u.id = $2::uuid \
                 WHERE t.jti = $1 AND (t.expires_at > now() AND t.purpose = 'user' AND t.subject = $4) IS TRUE",
            )
            .bind(c["jti"].as_str().unwrap())
            .bind(user.id.to_string())
            .bind(c["sid"].as_str().unwrap())
            .bind(c["sub"].as_str().unwrap())
            .fetch_one(&pool)
            .await
            .unwrap();
        })
    });

    // Each rotation spends the token it presents: every iteration refreshes
    // the token the previous one returned, each sample in a fresh session.
    g.bench_function("refresh rotation: ours", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let (auth, user) = (&auth, &user);
            async move {
                let signed = auth
                    .sign_in(user.clone(), ClientInfo::default())
                    .await
                    .unwrap();
                let mut current = signed.refresh_token.unwrap().token;
                let start = Instant::now();
                for _ in 0..iters {
                    current = auth.refresh(&current).await.unwrap().refresh_token.token;
                }
                start.elapsed()
            }
        })
    });
    let baseline_sid = sid.clone();
    let subject = auth_core::UserResource::subject(&user);
    g.bench_function("refresh rotation: baseline decode + SELECT + sign two + one CTE", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let (pool, subject, sid) = (&pool, &subject, &baseline_sid);
            let jwt = &jwt;
            async move {
                let mint = |purpose: &str, ttl: i64| jwt.sign(subject, purpose, ttl, json!({"sid": sid}));
                let (mut current, jti, exp) = mint("refresh", 7 * 86_400);
                sqlx::query(
                    "INSERT INTO tokens (jti, subject, expires_at, purpose, extra_data) \
                     VALUES ($1, $2, to_timestamp($3), 'refresh', $4)",
                )
                .bind(&jti)
                .bind(subject)
                .bind(exp as f64)
                .bind(json!({"sid": sid}))
                .execute(pool)
                .await
                .unwrap();
                let start = Instant::now();
                for _ in 0..iters {
                    let old = jwt.claims(&current)["jti"].as_str().unwrap().to_owned();
                    type Row = (String, String, String, String, chrono::DateTime<chrono::Utc>);
                    let _row: Row = sqlx::query_as(
                        "SELECT u.id::text, u.email, u.hashed_password, u.role, s.expires_at \
                         FROM tokens s JOIN users u ON u.id = $2::uuid \
                         WHERE s.jti = $1 AND (s.purpose = 'session' AND s.expires_at > now()) IS TRUE",
                    )
                    .bind(sid)
                    .bind(subject.trim_start_matches("user?id="))
                    .fetch_one(pool)
                    .await
                    .unwrap();
                    let (access, access_jti, access_exp) = mint("user", 15 * 60);
                    let (refresh, refresh_jti, refresh_exp) = mint("refresh", 7 * 86_400);
                    let _ = access;
                    let rotated: bool = sqlx::query_scalar(
                        "WITH session AS (SELECT 1 FROM tokens WHERE jti = $2 AND (purpose = 'session' \
                             AND subject = $3 AND expires_at > now()) IS TRUE), \
                         used AS (UPDATE tokens SET purpose = 'refresh_used', updated_at = now() \
                             WHERE jti = $1 AND (purpose = 'refresh' AND subject = $3) IS TRUE \
                             AND EXISTS (SELECT 1 FROM session) RETURNING 1), \
                         ins AS (INSERT INTO tokens (jti, subject, expires_at, purpose, extra_data) \
                             SELECT * FROM (VALUES ($4, $3, to_timestamp($5), 'refresh', $8::jsonb), \
                             ($6, $3, to_timestamp($7), 'user', NULL::jsonb)) v \
                             WHERE EXISTS (SELECT 1 FROM used)), \
                         touch AS (UPDATE tokens SET updated_at = now(), extra_data = \
                             jsonb_set(coalesce(extra_data, '{}'::jsonb), '{last_seen_at}', to_jsonb(now())) \
                             WHERE jti = $2 AND EXISTS (SELECT 1 FROM used)) \
                         SELECT EXISTS (SELECT 1 FROM used)",
                    )
                    .bind(&old)
                    .bind(sid)
                    .bind(subject)
                    .bind(&refresh_jti)
                    .bind(refresh_exp as f64)
                    .bind(&access_jti)
                    .bind(access_exp as f64)
                    .bind(json!({"sid": sid}))
                    .fetch_one(pool)
                    .await
                    .unwrap();
                    assert!(rotated);
                    current = refresh;
                }
                start.elapsed()
            }
        })
    });
    g.finish();
    drop(db);
}

criterion_group!(benches, bench);
criterion_main!(benches);
