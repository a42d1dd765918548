//! The findings of the outside security review, one test each (named
//! `fNN_...` after the finding): the store-dependent ones are the hardening
//! suite (`auth_tests::hardening`) on `MemoryStore`, `PgStore` and
//! `SqliteStore` (the all-or-nothing writes shown on the SQL stores with a
//! failing trigger); the ones about keys, headers and subjects follow.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod memory {
    auth_tests::hardening_suite!(auth_tests::conformance::Memory);
}

mod postgres {
    auth_tests::hardening_suite!(auth_tests::conformance::Postgres);
}

mod sqlite {
    auth_tests::hardening_suite!(auth_tests::conformance::Sqlite);
}

/// Findings about keys, headers and subjects: the same on every store.
mod verification {
    use auth_core::{
        Algorithm, Auth, Error, MemoryStore, Secret, SigningSecret, TokenConfig,
        TokenResourceConfig, UserResource, UserStore,
    };
    use auth_tests::{SECRET, User, claims_for, forge, settings};
    use serde_json::{Value, json};

    fn settings_with(algorithm: Algorithm, secret: &str) -> auth_core::Settings<User> {
        let mut tokens = TokenConfig::new(SigningSecret::Literal(Secret::from(secret)));
        tokens.algorithm = algorithm;
        auth_core::Settings::new(tokens, TokenResourceConfig::default())
    }

    fn build(algorithm: Algorithm, secret: &str) -> Result<Auth<User, MemoryStore>, Error> {
        Auth::from_settings(settings_with(algorithm, secret), MemoryStore::new())
    }

    /// Finding 5: `TOKEN_SIGNING_SECRET=a` started the demo and was
    /// brute-forced from one token in 0.01 s. An HMAC secret shorter than
    /// the hash is now refused when the runtime is built.
    #[test]
    fn f05_short_hmac_secrets_are_refused_at_start_up() {
        for (alg, min) in [
            (Algorithm::HS256, 32),
            (Algorithm::HS384, 48),
            (Algorithm::HS512, 64),
        ] {
            for short in ["a".to_owned(), "x".repeat(min - 1)] {
                let e = build(alg, &short).unwrap_err();
                assert!(
                    matches!(&e, Error::Config(m) if m.contains(&format!("at least {min}"))),
                    "{alg} with {} bytes: {e}",
                    short.len()
                );
            }
            assert!(build(alg, &"x".repeat(min)).is_ok(), "{alg}");
        }
        // The demo's random secret: 64 bytes from the OS, enough for HS512,
        // and two draws differ.
        let (a, b) = (Secret::random().unwrap(), Secret::random().unwrap());
        assert_eq!(a.expose().len(), 64);
        assert_ne!(a, b);
        assert!(
            Auth::<User, _>::with_secret(
                settings_with(Algorithm::HS512, "unused"),
                &a,
                MemoryStore::new()
            )
            .is_ok(),
            "the override secret is checked, not the configured one"
        );
    }

    fn key(name: &str) -> String {
        let path = format!("{}/fixtures/keys/{name}.pem", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// Finding 12: an ES256 resource with a P-384 key built and then failed
    /// every signing; a mismatched RSA pair built and refused every token;
    /// RSA-1024 was accepted. All are refused when the runtime is built.
    #[test]
    fn f12_bad_asymmetric_keys_are_refused_at_start_up() {
        for (alg, name, why) in [
            (Algorithm::ES256, "p384", "signing a probe failed"),
            (Algorithm::ES384, "p256", "signing a probe failed"),
            (Algorithm::RS256, "rsa-mismatched", "not one pair"),
            (Algorithm::PS256, "rsa-mismatched", "not one pair"),
            (Algorithm::RS256, "rsa1024", "1024 bits"),
            (Algorithm::PS384, "rsa1024", "1024 bits"),
            (Algorithm::EdDSA, "p256", "private key"),
        ] {
            let e = build(alg, &key(name)).unwrap_err();
            assert!(
                matches!(&e, Error::Config(m) if m.contains(why)),
                "{alg} with {name}: {e}"
            );
        }
        for (alg, name) in [
            (Algorithm::ES256, "p256"),
            (Algorithm::ES384, "p384"),
            (Algorithm::RS256, "rsa2048"),
            (Algorithm::RS512, "rsa2048"),
            (Algorithm::PS256, "rsa2048"),
        ] {
            let auth = build(alg, &key(name)).unwrap_or_else(|e| panic!("{alg} {name}: {e}"));
            let user = User::new("ada@example.com");
            let claims = claims_for(&user);
            let token = auth.jwt().sign(&claims).unwrap();
            assert_eq!(
                auth.jwt().verify(&token).unwrap().sub,
                user.subject(),
                "{alg}"
            );
        }
    }

    async fn memory_auth() -> (Auth<User, MemoryStore>, User) {
        let auth = auth_tests::auth(false, MemoryStore::new());
        let user = User::new("ada@example.com");
        auth.store().insert_user(&user).await.unwrap();
        (auth, user)
    }

    /// Finding 13: the unverified header `alg` reached a log line unescaped,
    /// so a token could forge a second log line. Untrusted text in errors
    /// (and so in logs) is now escaped.
    #[tokio::test]
    async fn f13_untrusted_header_text_cannot_forge_a_log_line() {
        let (auth, user) = memory_auth().await;
        let payload = Value::Object(claims_for(&user).to_json());
        for alg in [
            "HS256\n2026-12-01T00:00:00Z ERROR admin signed in",
            "x\r\u{1b}[31mred",
            "\\u000a",
        ] {
            let t = forge(&json!({ "alg": alg }), &payload, Algorithm::HS256, SECRET);
            let e = auth.authenticate(&t).await.unwrap_err();
            let line = e.to_string();
            assert!(matches!(e, Error::AlgorithmMismatch { .. }), "{line}");
            assert!(!line.chars().any(char::is_control), "{line:?}");
        }
    }

    /// Finding 15: an unknown `crit` header was accepted (RFC 7515 says
    /// refuse), `typ` was not checked.
    #[tokio::test]
    async fn f15_crit_is_refused_and_typ_must_be_jwt() {
        let (auth, user) = memory_auth().await;
        let payload = Value::Object(claims_for(&user).to_json());
        let refused = [
            json!({"alg": "HS256", "crit": ["exp"], "exp": 1}),
            json!({"alg": "HS256", "crit": []}),
            json!({"alg": "HS256", "typ": "at+jwt"}),
            json!({"alg": "HS256", "typ": 1}),
            json!({"alg": "HS256", "typ": "JOSE"}),
        ];
        for header in refused {
            let t = forge(&header, &payload, Algorithm::HS256, SECRET);
            let e = auth.authenticate(&t).await;
            assert!(
                matches!(e, Err(Error::MalformedToken(_))),
                "{header}: {e:?}"
            );
        }
        for header in [
            json!({"alg": "HS256", "typ": "JWT"}),
            json!({"alg": "HS256", "typ": "jwt"}),
            json!({"alg": "HS256"}),
        ] {
            let t = forge(&header, &payload, Algorithm::HS256, SECRET);
            assert!(auth.authenticate(&t).await.is_ok(), "{header}");
        }
    }

    /// Finding 15: `sub` was accepted in non-canonical forms (upper-case
    /// UUID, `urn:uuid:`, `%69d` for `id`). It must now re-serialise to
    /// itself.
    #[tokio::test]
    async fn f15_subjects_must_be_canonical() {
        let (auth, user) = memory_auth().await;
        let id = user.id.to_string();
        for sub in [
            format!("user?id={}", id.to_uppercase()),
            format!("user?id=urn:uuid:{id}"),
            format!("user?id=urn%3Auuid%3A{id}"),
            format!("user?%69d={id}"),
            format!("user?id={}", user.id.simple()),
            format!("user?id={{{id}}}"),
        ] {
            let mut claims = claims_for(&user);
            claims.sub = sub.clone();
            let e = auth.authenticate(&auth_tests::sign_claims(&claims)).await;
            assert!(matches!(e, Err(Error::InvalidSubject(_))), "{sub}: {e:?}");
        }
        let claims = claims_for(&user);
        assert!(
            auth.authenticate(&auth_tests::sign_claims(&claims))
                .await
                .is_ok()
        );
    }

    /// Finding 15: `iss`/`aud` defaulted to the constant `auth-core`, so two
    /// deployments sharing a secret accepted each other's tokens. They now
    /// default to the application's name; a token from another application
    /// with the same secret is refused.
    #[tokio::test]
    async fn f15_issuer_and_audience_default_to_the_application() {
        let (auth, user) = memory_auth().await;
        assert_ne!(auth.settings().tokens.issuer, "auth-core");
        let mut other = claims_for(&user);
        (other.iss, other.aud) = ("auth-core".into(), "auth-core".into());
        let e = auth.authenticate(&auth_tests::sign_claims(&other)).await;
        assert!(matches!(e, Err(Error::InvalidIssuer)), "{e:?}");
        // The derive uses the crate's package name.
        let derived = settings(false);
        assert_eq!(derived.tokens.audience, auth_core::application_name());
    }

    /// Finding 15: `user_table_sql` passed a name starting with `"` through
    /// unvalidated (SQL injection by configuration).
    #[test]
    fn f15_quoted_user_table_names_are_validated() {
        use auth_postgres::user_table_sql;
        #[derive(auth_core::Authenticated, Clone, Debug, serde::Serialize, serde::Deserialize)]
        #[authentication(subject_name = "member")]
        struct Member {
            id: i64,
        }
        assert!(user_table_sql::<Member>("\"members\"").is_ok());
        assert!(user_table_sql::<Member>("\"auth\".\"members\"").is_ok());
        for bad in [
            "\"x\"; DROP TABLE users; --",
            "\"members",
            "\"a b\"",
            "\"m\"\"x\"",
        ] {
            assert!(user_table_sql::<Member>(bad).is_err(), "{bad}");
        }
    }

    /// Finding 15: `spawn_expunger_every(Duration::ZERO)` panicked in its
    /// task (tokio's interval); it now runs at the minimum interval.
    #[tokio::test]
    async fn f15_a_zero_expunge_interval_does_not_kill_the_expunger() {
        let store = MemoryStore::new();
        let resource = TokenResourceConfig::default();
        let store_expired = |jti: String| {
            let (store, resource) = (store.clone(), resource.clone());
            async move {
                let expired = auth_core::TokenFacts {
                    jti,
                    subject: "user?id=1".into(),
                    expires_at: chrono::Utc::now() - chrono::Duration::seconds(5),
                    tenant: None,
                };
                auth_core::token_actions::store_token(
                    &store,
                    &resource,
                    &expired,
                    &auth_core::Purpose::USER,
                    None,
                )
                .await
                .unwrap();
            }
        };
        store_expired("old".into()).await;
        let handle = auth_core::spawn_expunger_every(
            store.clone(),
            std::time::Duration::ZERO,
            resource.clone(),
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        assert_eq!(store.token_count(), 0, "the expunger ran");
        // It keeps running: rows that expire later are removed by later
        // runs (a task that died after its first run would leave them).
        for round in 0..3 {
            store_expired(format!("later-{round}")).await;
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
            while store.token_count() > 0 && std::time::Instant::now() < deadline {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            assert_eq!(store.token_count(), 0, "run after {round}");
        }
        handle.shutdown().await;
    }
}
