//! Password hashing and sign-in against bare argon2 with the same parameters.
//! `cargo bench -p auth-tests --bench password`
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use auth_core::{
    Auth, Authenticated, ExtraClaims, HashCost, MemoryStore, PasswordHasher, Secret, TokenType,
    token_resource,
};
use criterion::{Criterion, criterion_group, criterion_main};
use serde::{Deserialize, Serialize};

#[token_resource]
pub struct Token;

#[derive(Authenticated, Clone, Debug, Serialize, Deserialize)]
#[authentication(
    tokens(token_resource = Token, store_all_tokens, require_token_presence_for_authentication),
    strategies(password()),
)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub hashed_password: String,
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    for (name, cost) in [
        ("owasp", HashCost::OWASP),
        ("test", HashCost::INSECURE_FAST_FOR_TESTS),
    ] {
        let hasher = PasswordHasher::new(cost).unwrap();
        let mut g = c.benchmark_group(format!("password/{name}"));
        g.sample_size(20);
        g.bench_function("hash", |b| {
            b.iter(|| hasher.hash_blocking("correct horse battery"))
        });

        let auth = Auth::with_secret(
            User::settings(),
            &Secret::from("bench-secret-0123456789abcdef0123456789abcdef"),
            MemoryStore::new(),
        )
        .unwrap()
        .with_hash_cost(cost)
        .unwrap();
        let user = User {
            id: 1,
            email: "ada@example.com".into(),
            hashed_password: String::new(),
        };
        rt.block_on(auth.register_with_password(
            user,
            "password-1",
            Some("password-1"),
            ExtraClaims::new(),
        ))
        .unwrap();
        let hash = rt
            .block_on(async { auth_core::UserStore::<User>::get_user(auth.store(), &1).await })
            .unwrap()
            .unwrap()
            .hashed_password;

        let params =
            argon2::Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None).unwrap();
        let argon =
            argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let _ = argon.hash_password(b"warm-up").unwrap();
        g.bench_function("baseline: bare argon2 verify", |b| {
            b.iter(|| argon.verify_password(b"password-1", hash.as_str()).is_ok())
        });
        g.bench_function(
            "sign_in_with_password (ok, user token issued and stored)",
            |b| {
                b.to_async(&rt).iter(|| {
                    User::sign_in_with_password(
                        &auth,
                        "ada@example.com",
                        "password-1",
                        TokenType::User,
                        ExtraClaims::new(),
                    )
                })
            },
        );
        g.bench_function("sign_in_with_password (wrong password)", |b| {
            b.to_async(&rt).iter(|| {
                User::sign_in_with_password(
                    &auth,
                    "ada@example.com",
                    "password-2",
                    TokenType::User,
                    ExtraClaims::new(),
                )
            })
        });
        g.bench_function("sign_in_with_password (unknown identity)", |b| {
            b.to_async(&rt).iter(|| {
                User::sign_in_with_password(
                    &auth,
                    "nobody@example.com",
                    "password-1",
                    TokenType::User,
                    ExtraClaims::new(),
                )
            })
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
