//! Verification with a key set against today's single-key verification, in
//! the same run: choosing the key is a map lookup by `kid`, so a set of
//! twelve keys must cost what one key costs (target ≤ 1.05x).
//! `cargo bench -p auth-tests --bench keys`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use auth_core::{Algorithm, ExtraClaims, Jwt, KeySet, Lifetime, Purpose, Secret, SigningKey};
use auth_tests::{SECRET, settings};
use criterion::{Criterion, criterion_group, criterion_main};

fn bench(c: &mut Criterion) {
    let config = settings(false).tokens;
    let single = Jwt::with_secret(&config, &Secret::from(SECRET)).unwrap();
    // Eleven more HMAC keys (the asymmetric ones would only slow the set-up).
    let set = (1..12)
        .map(|i| {
            SigningKey::new(
                format!("old-{i}"),
                Algorithm::HS512,
                &Secret::from("x".repeat(64 + i)),
            )
            .unwrap()
        })
        .try_fold(
            KeySet::new(
                SigningKey::new("current", Algorithm::HS256, &Secret::from(SECRET)).unwrap(),
            ),
            KeySet::with_verification_key,
        )
        .unwrap();
    let many = Jwt::with_keys(&config, &set, Some(&Secret::from(SECRET))).unwrap();
    let now = chrono::Utc::now().timestamp();
    let claims = |jwt: &Jwt| {
        jwt.claims(
            "user?id=1".into(),
            &Purpose::USER,
            Lifetime::from_secs(3600),
            ExtraClaims::new(),
            now,
        )
    };
    let (t1, t12) = (
        single.sign(&claims(&single)).unwrap(),
        many.sign(&claims(&many)).unwrap(),
    );
    let mut g = c.benchmark_group("keys/verify");
    g.bench_function("one key (the DSL secret)", |b| {
        b.iter(|| single.verify_at(&t1, now).unwrap())
    });
    g.bench_function("a key set of twelve, selected by kid", |b| {
        b.iter(|| many.verify_at(&t12, now).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
