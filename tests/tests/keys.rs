//! Key sets: every algorithm through a key set, selection by `kid`, the legacy
//! key for tokens without `kid`, algorithm confusion, the key file, and the
//! JWK Set checked by an independent verifier (jsonwebtoken's JWK decoding).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use auth_core::{
    Algorithm, Auth, Error, ExtraClaims, KeySet, MemoryStore, Secret, SigningKey, SigningSecret,
    UserStore,
};
use auth_tests::{SECRET, User, claims_for, forge, settings};
use serde_json::{Value, json};

fn pem(name: &str) -> String {
    let path = format!("{}/fixtures/keys/{name}.pem", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A key of every algorithm, with the kid `k-<alg>`.
fn every_key() -> Vec<SigningKey> {
    Algorithm::ALL
        .iter()
        .map(|&alg| {
            let secret = match alg {
                Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => {
                    format!("{alg}-secret-{}", "x".repeat(64))
                }
                Algorithm::ES256 => pem("p256"),
                Algorithm::ES384 => pem("p384"),
                Algorithm::EdDSA => pem("ed25519"),
                _ => pem("rsa2048"),
            };
            SigningKey::new(format!("k-{alg}"), alg, &Secret::from(secret))
                .unwrap_or_else(|e| panic!("{alg}: {e}"))
        })
        .collect()
}

/// A set of every key with `active` signing.
fn set_with_active(active: Algorithm) -> KeySet {
    let mut keys = every_key();
    let i = keys.iter().position(|k| k.algorithm() == active).unwrap();
    let first = keys.remove(i);
    keys.into_iter()
        .try_fold(KeySet::new(first), KeySet::with_verification_key)
        .unwrap()
}

async fn auth_with(keys: &KeySet) -> (Auth<User, MemoryStore>, User) {
    let auth = Auth::with_keys(settings(false), keys, MemoryStore::new()).unwrap();
    let user = User::new("ada@example.com");
    auth.store().insert_user(&user).await.unwrap();
    (auth, user)
}

fn header(token: &str) -> Value {
    use base64::Engine as _;
    let head = token.split('.').next().unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(head)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn every_algorithm_signs_and_verifies_through_a_key_set() {
    for alg in Algorithm::ALL {
        let (auth, user) = auth_with(&set_with_active(alg)).await;
        let issued = auth
            .token_for_user(&user, ExtraClaims::new())
            .await
            .unwrap();
        let h = header(&issued.token);
        assert_eq!(h["kid"], format!("k-{alg}"));
        assert_eq!(h["alg"], alg.as_str());
        assert!(auth.authenticate(&issued.token).await.is_ok(), "{alg}");
        // Another runtime with the same set (another node) verifies it too,
        // whichever key is active there.
        let other = Auth::<User, _>::with_keys(
            settings(false),
            &set_with_active(Algorithm::HS256),
            auth.store().clone(),
        )
        .unwrap();
        assert!(
            other.authenticate(&issued.token).await.is_ok(),
            "{alg} on another node"
        );
    }
}

#[tokio::test]
async fn a_kid_selects_its_key_and_pins_its_algorithm() {
    let a = SigningKey::new(
        "a",
        Algorithm::HS256,
        &Secret::from("secret-a-of-at-least-32-bytes-long!"),
    )
    .unwrap();
    let b = SigningKey::new(
        "b",
        Algorithm::HS256,
        &Secret::from("secret-b-of-at-least-32-bytes-long!"),
    )
    .unwrap();
    let keys = KeySet::new(a).with_verification_key(b).unwrap();
    let (auth, user) = auth_with(&keys).await;
    let claims = Value::Object(claims_for(&user).to_json());
    // Signed with A, naming B (same algorithm): B's signature check fails.
    let t = forge(
        &json!({"alg": "HS256", "kid": "b"}),
        &claims,
        Algorithm::HS256,
        "secret-a-of-at-least-32-bytes-long!",
    );
    assert!(matches!(
        auth.verify(&t).await,
        Err(Error::InvalidSignature)
    ));
    // Naming A with another algorithm: refused before the signature.
    let t = forge(
        &json!({"alg": "HS512", "kid": "a"}),
        &claims,
        Algorithm::HS512,
        "secret-a-of-at-least-32-bytes-long!",
    );
    assert!(matches!(
        auth.verify(&t).await,
        Err(Error::AlgorithmMismatch { .. })
    ));
    // Properly signed with B, naming B: fine (a verification key).
    let t = forge(
        &json!({"alg": "HS256", "kid": "b"}),
        &claims,
        Algorithm::HS256,
        "secret-b-of-at-least-32-bytes-long!",
    );
    assert!(auth.verify(&t).await.is_ok());
}

#[tokio::test]
async fn without_kid_only_the_dsl_key_verifies() {
    let keys = set_with_active(Algorithm::HS256);
    let (auth, user) = auth_with(&keys).await;
    let claims = Value::Object(claims_for(&user).to_json());
    // The DSL's secret (tokens from before the key set): accepted.
    let legacy = forge(&json!({"alg": "HS256"}), &claims, Algorithm::HS256, SECRET);
    assert!(auth.verify(&legacy).await.is_ok());
    // Any key of the set, without naming it: refused.
    let hs = format!("HS256-secret-{}", "x".repeat(64));
    let nameless = forge(&json!({"alg": "HS256"}), &claims, Algorithm::HS256, &hs);
    assert!(matches!(
        auth.verify(&nameless).await,
        Err(Error::InvalidSignature)
    ));
    // Without a DSL secret there is no legacy key: refused as unknown.
    let mut s = settings(false);
    s.tokens.signing_secret = SigningSecret::Env("KEYS_TEST_SURELY_UNSET".into());
    let strict = Auth::<User, _>::with_keys(s, &keys, MemoryStore::new()).unwrap();
    assert!(matches!(
        strict.verify(&legacy).await,
        Err(Error::UnknownKey(_))
    ));
}

#[tokio::test]
async fn a_public_key_used_as_an_hmac_secret_is_refused() {
    for alg in [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA] {
        let keys = set_with_active(alg);
        let (auth, user) = auth_with(&keys).await;
        let claims = Value::Object(claims_for(&user).to_json());
        let kid = format!("k-{alg}");
        let jwks = serde_json::to_value(auth.jwks()).unwrap();
        let jwk = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["kid"] == kid)
            .unwrap()
            .clone();
        let public_pem = pem(match alg {
            Algorithm::RS256 => "rsa2048",
            Algorithm::ES256 => "p256",
            _ => "ed25519",
        });
        let public_pem = &public_pem[public_pem.find("-----BEGIN PUBLIC KEY-----").unwrap()..];
        for secret in [
            public_pem.to_owned(),
            jwk.to_string(),
            jwk["x"].as_str().or(jwk["n"].as_str()).unwrap().to_owned(),
        ] {
            let t = forge(
                &json!({"alg": "HS256", "kid": kid}),
                &claims,
                Algorithm::HS256,
                &secret,
            );
            let e = auth.verify(&t).await;
            assert!(
                matches!(e, Err(Error::AlgorithmMismatch { .. })),
                "{alg}: {e:?}"
            );
        }
    }
}

#[tokio::test]
async fn the_jwks_verifies_our_tokens_with_an_independent_verifier() {
    let keys = set_with_active(Algorithm::ES256);
    let (auth, user) = auth_with(&keys).await;
    // Serialized and parsed back, as a client fetching it would.
    let text = serde_json::to_string(&auth.jwks()).unwrap();
    let value: Value = serde_json::from_str(&text).unwrap();
    let jwks: jsonwebtoken::jwk::JwkSet = serde_json::from_str(&text).unwrap();
    // Only the nine asymmetric keys; each public, for signatures, with alg and kid.
    assert_eq!(jwks.keys.len(), 9, "{text}");
    for k in value["keys"].as_array().unwrap() {
        assert_eq!(k["use"], "sig");
        assert!(k["kid"].as_str().unwrap().starts_with("k-"));
        assert!(k["alg"].is_string());
        assert!(
            k.get("d").is_none() && k.get("k").is_none(),
            "no private or symmetric material: {k}"
        );
    }
    for alg in Algorithm::ALL.into_iter().filter(|a| !a.is_hmac()) {
        let auth =
            Auth::<User, _>::with_keys(settings(false), &set_with_active(alg), MemoryStore::new())
                .unwrap();
        let token = auth
            .token_for_user(&user, ExtraClaims::new())
            .await
            .unwrap()
            .token;
        let kid = header(&token)["kid"].as_str().unwrap().to_owned();
        let jwk = jwks
            .find(&kid)
            .unwrap_or_else(|| panic!("{kid} in the JWKS"));
        let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
        let jalg = jsonwebtoken::Algorithm::from_str_lossy(alg.as_str());
        let mut validation = jsonwebtoken::Validation::new(jalg);
        validation.set_audience(&[auth_core::application_name()]);
        let data = jsonwebtoken::decode::<Value>(&token, &key, &validation)
            .unwrap_or_else(|e| panic!("{alg}: {e}"));
        assert_eq!(data.claims["sub"], auth_core::UserResource::subject(&user));
    }
    // HMAC only: an empty set.
    let hmac =
        KeySet::new(SigningKey::new("h", Algorithm::HS256, &Secret::from("x".repeat(32))).unwrap());
    assert!(hmac.jwks().keys.is_empty());
}

trait FromStrLossy {
    fn from_str_lossy(s: &str) -> Self;
}

impl FromStrLossy for jsonwebtoken::Algorithm {
    fn from_str_lossy(s: &str) -> Self {
        s.parse().unwrap()
    }
}

#[test]
fn the_key_file_parses_and_its_mistakes_name_the_key() {
    let p256 = pem("p256");
    let split = p256.find("-----BEGIN PUBLIC KEY-----").unwrap();
    let (private, public) = p256.split_at(split);
    let file = json!({
        "active": "2026-12",
        "keys": [
            {"kid": "2026-12", "alg": "ES256", "private_key_pem": private, "public_key_pem": public},
            {"kid": "2026-06", "alg": "HS256", "secret": "an old secret of at least 32 bytes!"},
        ]
    });
    let keys = KeySet::from_json(&file.to_string()).unwrap();
    assert_eq!(
        (keys.active().kid(), keys.active().algorithm()),
        ("2026-12", Algorithm::ES256)
    );
    assert_eq!(keys.get("2026-06").unwrap().algorithm(), Algorithm::HS256);
    assert_eq!(keys.jwks().keys.len(), 1);

    let bad = |file: Value, says: &str| {
        let e = KeySet::from_json(&file.to_string())
            .unwrap_err()
            .to_string();
        assert!(e.contains(says), "{e} should say {says}");
    };
    let hs = |kid: &str, secret: &str| json!({"kid": kid, "alg": "HS256", "secret": secret});
    let long = "a secret of at least thirty-two bytes";
    bad(
        json!({"active": "x", "keys": [hs("a", long)]}),
        "the active key `x` is not in the key set",
    );
    bad(
        json!({"active": "a", "keys": [hs("a", long), hs("a", long)]}),
        "key `a` is listed twice",
    );
    bad(
        json!({"active": "a", "keys": [hs("a", "short")]}),
        "key `a`: the HS256 signing secret is 5 bytes",
    );
    bad(
        json!({"active": "a", "keys": [{"kid": "a", "alg": "HS999", "secret": long}]}),
        "key `a`: unknown signing algorithm",
    );
    bad(
        json!({"active": "a", "keys": [{"kid": "a", "alg": "ES256", "secret": long}]}),
        "key `a`: ES256 takes `private_key_pem` and `public_key_pem`",
    );
    bad(
        json!({"active": "a", "keys": [{"kid": "a", "alg": "HS256", "secret": long, "private_key_pem": "x"}]}),
        "key `a`: HS256 takes `secret`",
    );
    bad(
        json!({"active": "a", "keys": [{"kid": "a", "alg": "ES256", "private_key_pem": private, "public_key_pem": pem("p384")}]}),
        "key `a`",
    );
    bad(
        json!({"active": "a", "keys": [hs("a", long)], "extra": 1}),
        "unknown field",
    );
    bad(
        json!({"active": "", "keys": [hs("", long)]}),
        "a key id must be 1 to 128",
    );
    bad(
        json!({"active": "a b", "keys": [hs("a b", long)]}),
        "printable ASCII",
    );
    assert!(
        KeySet::from_file("/nonexistent/keys.json")
            .unwrap_err()
            .to_string()
            .contains("cannot read")
    );
}

#[tokio::test]
async fn rotation_keeps_old_tokens_until_the_old_key_is_removed() {
    let a = || {
        SigningKey::new(
            "A",
            Algorithm::HS256,
            &Secret::from("secret-a-of-at-least-32-bytes-long!"),
        )
        .unwrap()
    };
    let b = || SigningKey::new("B", Algorithm::ES256, &Secret::from(pem("p256"))).unwrap();
    let store = MemoryStore::new();
    let user = User::new("ada@example.com");
    let node =
        |keys: KeySet| Auth::<User, _>::with_keys(settings(false), &keys, store.clone()).unwrap();
    let first = node(KeySet::new(a()));
    first.store().insert_user(&user).await.unwrap();
    let old = first
        .token_for_user(&user, ExtraClaims::new())
        .await
        .unwrap()
        .token;
    // B active, A still listed: old tokens pass, new ones name B.
    let second = node(KeySet::new(b()).with_verification_key(a()).unwrap());
    assert!(second.authenticate(&old).await.is_ok());
    let new = second
        .token_for_user(&user, ExtraClaims::new())
        .await
        .unwrap()
        .token;
    assert_eq!(header(&new)["kid"], "B");
    // A removed: its tokens fail, B's pass.
    let third = node(KeySet::new(b()));
    assert!(matches!(
        third.authenticate(&old).await,
        Err(Error::UnknownKey(_))
    ));
    assert!(third.authenticate(&new).await.is_ok());
}
