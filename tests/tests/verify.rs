//! Token verification: every check of SPEC section 4, in order, each failure its own variant.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use auth_core::{
    Algorithm, Auth, Claims, Error, ExtraClaims, Lifetime, MemoryStore, NewTokenRow, Purpose,
    PurposeFilter, RevokeAll, Secret, Settings, SigningSecret, StoreError, TokenConfig,
    TokenResourceConfig, TokenRow, TokenStore, UserResource, UserStore,
};
use auth_tests::{SECRET, User, auth, claims_for, forge, sign_claims, sign_claims_with};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

async fn setup(allow_list: bool) -> (Auth<User, MemoryStore>, User) {
    let auth = auth(allow_list, MemoryStore::new());
    let user = User::new("ada@example.com");
    auth.store().insert_user(&user).await.unwrap();
    (auth, user)
}

fn payload(c: &Claims) -> Value {
    Value::Object(c.to_json())
}

#[tokio::test]
async fn a_fresh_token_verifies_and_authenticates() {
    for allow_list in [false, true] {
        let (auth, user) = setup(allow_list).await;
        let issued = auth
            .token_for_user(&user, ExtraClaims::new())
            .await
            .unwrap();
        let claims = auth.verify(&issued.token).await.unwrap();
        assert_eq!(claims.sub, format!("user?id={}", user.id));
        assert_eq!(claims.purpose, "user");
        assert_eq!(claims.exp - claims.iat, 14 * 86_400);
        assert_eq!(claims.nbf, claims.iat);
        // Not a constant shared by every deployment: the application's name.
        let app = auth_core::application_name();
        assert_eq!((claims.iss.as_str(), claims.aud.as_str()), (&*app, &*app));
        assert_ne!(app, "auth-core");
        let me = auth.authenticate(&issued.token).await.unwrap();
        assert_eq!(me.user, user);
    }
}

#[tokio::test]
async fn wrong_algorithm_in_the_header_is_refused() {
    let (auth, user) = setup(false).await;
    let c = claims_for(&user);
    for alg in [Algorithm::HS384, Algorithm::HS512] {
        let t = forge(
            &json!({"alg": alg.as_str(), "typ": "JWT"}),
            &payload(&c),
            alg,
            SECRET,
        );
        let e = auth.verify(&t).await.unwrap_err();
        assert!(
            matches!(e, Error::AlgorithmMismatch { ref found, .. } if found == alg.as_str()),
            "{e:?}"
        );
    }
    // An HS256 signature under a header that names another algorithm.
    let t = forge(
        &json!({"alg": "RS256"}),
        &payload(&c),
        Algorithm::HS256,
        SECRET,
    );
    assert!(matches!(
        auth.verify(&t).await,
        Err(Error::AlgorithmMismatch { .. })
    ));
    let t = forge(
        &json!({"alg": "hs256"}),
        &payload(&c),
        Algorithm::HS256,
        SECRET,
    );
    assert!(
        matches!(auth.verify(&t).await, Err(Error::AlgorithmMismatch { .. })),
        "case matters"
    );
}

#[tokio::test]
async fn alg_none_is_refused_in_any_casing() {
    let (auth, user) = setup(false).await;
    let good = sign_claims(&claims_for(&user));
    let body = good.split('.').nth(1).unwrap();
    for none in ["none", "None", "NONE", "nOnE"] {
        use base64::Engine as _;
        let head = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(&json!({"alg": none, "typ": "JWT"})).unwrap());
        for sig in ["", "AAAA"] {
            let t = format!("{head}.{body}.{sig}");
            let e = auth.verify(&t).await.unwrap_err();
            assert!(
                matches!(e, Error::AlgorithmMismatch { .. }),
                "{none}: {e:?}"
            );
        }
    }
}

/// A deny-list runtime, a user, claims of theirs and those claims signed
/// with a secret that is not the runtime's.
async fn forged_with_another_secret() -> (Auth<User, MemoryStore>, User, Claims, String) {
    let (auth, user) = setup(false).await;
    let c = claims_for(&user);
    let forged = sign_claims_with(&c, "not our secret");
    (auth, user, c, forged)
}

#[tokio::test]
async fn bad_signature_and_tampered_payload_are_refused() {
    let (auth, _, c, other_key) = forged_with_another_secret().await;
    assert!(matches!(
        auth.verify(&other_key).await,
        Err(Error::InvalidSignature)
    ));

    let good = sign_claims(&c);
    let parts: Vec<&str> = good.split('.').collect();
    let mut evil = c.clone();
    evil.sub = format!("user?id={}", uuid::Uuid::new_v4());
    let evil_body = forge(
        &json!({"alg": "HS256"}),
        &payload(&evil),
        Algorithm::HS256,
        "x",
    );
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        evil_body.split('.').nth(1).unwrap(),
        parts[2]
    );
    assert!(matches!(
        auth.verify(&tampered).await,
        Err(Error::InvalidSignature)
    ));
}

#[tokio::test]
async fn time_claims_are_checked_with_leeway() {
    let (auth, user) = setup(false).await;
    let now = Utc::now().timestamp();
    let mut c = claims_for(&user);
    c.exp = now - 1;
    assert!(matches!(
        auth.verify(&sign_claims(&c)).await,
        Err(Error::Expired)
    ));
    c.exp = now;
    assert!(
        matches!(auth.verify(&sign_claims(&c)).await, Err(Error::Expired)),
        "exp must be > now"
    );
    let mut c = claims_for(&user);
    c.nbf = now + 60;
    assert!(matches!(
        auth.verify(&sign_claims(&c)).await,
        Err(Error::NotYetValid)
    ));

    let mut settings = auth_tests::settings(false);
    settings.tokens.leeway = Lifetime::parse("30s").unwrap();
    let lenient = Auth::from_settings(settings, auth.store().clone()).unwrap();
    let mut c = claims_for(&user);
    c.exp = now - 10;
    c.nbf = now + 10;
    let t = sign_claims(&c);
    assert!(lenient.verify(&t).await.is_ok(), "within leeway");
    assert!(
        matches!(auth.verify(&t).await, Err(Error::Expired)),
        "strict without leeway"
    );
    c.exp = now - 60;
    assert!(matches!(
        lenient.verify(&sign_claims(&c)).await,
        Err(Error::Expired)
    ));
    let mut c = claims_for(&user);
    c.nbf = now + 60;
    assert!(matches!(
        lenient.verify(&sign_claims(&c)).await,
        Err(Error::NotYetValid)
    ));
}

#[tokio::test]
async fn issuer_and_audience_are_checked() {
    let (auth, user) = setup(false).await;
    let mut c = claims_for(&user);
    c.iss = "someone-else".into();
    assert!(matches!(
        auth.verify(&sign_claims(&c)).await,
        Err(Error::InvalidIssuer)
    ));
    let mut c = claims_for(&user);
    c.aud = "another-app".into();
    assert!(matches!(
        auth.verify(&sign_claims(&c)).await,
        Err(Error::InvalidAudience)
    ));

    let c = claims_for(&user);
    let mut p = c.to_json();
    p.insert(
        "aud".into(),
        json!(["other", auth_core::application_name()]),
    );
    let t = forge(
        &json!({"alg": "HS256"}),
        &Value::Object(p.clone()),
        Algorithm::HS256,
        SECRET,
    );
    assert!(
        auth.verify(&t).await.is_ok(),
        "an audience array containing ours"
    );
    p.remove("iss");
    let t = forge(
        &json!({"alg": "HS256"}),
        &Value::Object(p),
        Algorithm::HS256,
        SECRET,
    );
    assert!(matches!(auth.verify(&t).await, Err(Error::InvalidIssuer)));

    let mut settings = auth_tests::settings(false);
    settings.tokens.audience = "my-app".into();
    let other = Auth::from_settings(settings, auth.store().clone()).unwrap();
    let issued = auth
        .token_for_user(&user, ExtraClaims::new())
        .await
        .unwrap();
    assert!(matches!(
        other.verify(&issued.token).await,
        Err(Error::InvalidAudience)
    ));
}

#[tokio::test]
async fn subject_must_name_this_resource() {
    let (auth, user) = setup(false).await;
    let mut c = claims_for(&user);
    c.sub = format!("admin?id={}", user.id);
    assert!(matches!(
        auth.verify(&sign_claims(&c)).await,
        Err(Error::WrongSubject { .. })
    ));
    c.sub = "user?id=not-a-uuid".into();
    assert!(matches!(
        auth.verify(&sign_claims(&c)).await,
        Err(Error::InvalidSubject(_))
    ));
    c.sub = "user".into();
    assert!(matches!(
        auth.verify(&sign_claims(&c)).await,
        Err(Error::InvalidSubject(_))
    ));
}

#[tokio::test]
async fn a_revoked_token_is_refused_in_both_modes() {
    for allow_list in [false, true] {
        let (auth, user) = setup(allow_list).await;
        let issued = auth
            .token_for_user(&user, ExtraClaims::new())
            .await
            .unwrap();
        auth.revoke(&issued.token).await.unwrap();
        assert!(
            matches!(auth.verify(&issued.token).await, Err(Error::Revoked)),
            "{allow_list}"
        );
        assert!(matches!(
            auth.authenticate(&issued.token).await,
            Err(Error::Revoked)
        ));
        // Signing out twice is fine.
        auth.revoke(&issued.token).await.unwrap();
    }
}

#[tokio::test]
async fn allow_list_mode_requires_a_stored_row_of_the_tokens_own_purpose() {
    let (auth, user) = setup(true).await;
    let unstored = sign_claims(&claims_for(&user));
    assert!(matches!(
        auth.verify(&unstored).await,
        Err(Error::NotPresent)
    ));
    let deny_list = auth_tests::auth(false, auth.store().clone());
    assert!(
        deny_list.verify(&unstored).await.is_ok(),
        "deny-list mode accepts it"
    );

    // Stored under another purpose: absent for its own purpose.
    let c = claims_for(&user);
    let facts = auth_core::TokenFacts::try_from(&c).unwrap();
    auth_core::token_actions::store_token(
        auth.store(),
        &TokenResourceConfig::default(),
        &facts,
        &Purpose::SIGN_IN,
        None,
    )
    .await
    .unwrap();
    assert!(matches!(
        auth.verify(&sign_claims(&c)).await,
        Err(Error::NotPresent)
    ));

    // Logged out everywhere: every stored row flipped, the token is revoked.
    let issued = auth
        .token_for_user(&user, ExtraClaims::new())
        .await
        .unwrap();
    auth_core::token_actions::revoke_all_stored_for_subject(
        auth.store(),
        &TokenResourceConfig::default(),
        &user.subject(),
        &PurposeFilter::all(),
    )
    .await
    .unwrap();
    assert!(matches!(
        auth.verify(&issued.token).await,
        Err(Error::Revoked)
    ));
}

#[tokio::test]
async fn a_sign_in_token_is_not_a_bearer_token() {
    for allow_list in [false, true] {
        let (auth, user) = setup(allow_list).await;
        let issued = auth_tests::sign_in_token(&auth, &user).await;
        assert_eq!(issued.claims.exp - issued.claims.iat, 60);
        assert!(
            auth.verify(&issued.token).await.is_ok(),
            "it verifies as a sign-in token"
        );
        let e = auth.authenticate(&issued.token).await.unwrap_err();
        assert!(
            matches!(e, Error::WrongPurpose { ref found, .. } if found == "sign_in"),
            "{e:?}"
        );
    }
}

#[tokio::test]
async fn claims_precedence_dsl_then_per_call_never_registered() {
    let (auth, mut user) = setup(true).await;
    user.role = "admin".into();
    let mut per_call = ExtraClaims::new();
    per_call.insert("tier".into(), json!(3));
    per_call.insert("sub".into(), json!("user?id=someone-else"));
    per_call.insert("exp".into(), json!(1));
    let issued = auth.token_for_user(&user, per_call.clone()).await.unwrap();
    let c = auth.verify(&issued.token).await.unwrap();
    assert_eq!(c.sub, user.subject());
    assert!(c.exp > Utc::now().timestamp());
    assert_eq!(
        Value::Object(c.extra.clone()),
        json!({"role": "admin", "tier": 3})
    );

    per_call.insert("role".into(), json!("guest"));
    let issued = auth.token_for_user(&user, per_call).await.unwrap();
    let c = auth.verify(&issued.token).await.unwrap();
    assert_eq!(
        c.extra["role"],
        json!("guest"),
        "per-call claims win over the DSL's"
    );
}

#[tokio::test]
async fn allow_list_mode_restores_the_stored_claims() {
    let (auth, user) = setup(true).await;
    let issued = auth
        .token_for_user(&user, ExtraClaims::new())
        .await
        .unwrap();
    let row = auth_core::token_actions::get_token(
        auth.store(),
        &TokenResourceConfig::default(),
        &issued.claims.jti,
        None,
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(row.extra_data, Some(json!({"role": "member"})));
    // A token (signed by us) whose payload claims more than what was stored:
    // the stored claims are the ones the request sees.
    let mut inflated = issued.claims.clone();
    inflated.extra.insert("role".into(), json!("admin"));
    let me = auth.authenticate(&sign_claims(&inflated)).await.unwrap();
    assert_eq!(Value::Object(me.claims.extra), json!({"role": "member"}));
}

#[tokio::test]
async fn sign_out_checks_the_signature_first() {
    let (auth, user, c, forged) = forged_with_another_secret().await;
    assert!(matches!(
        auth.revoke(&forged).await,
        Err(Error::InvalidSignature)
    ));
    let t = sign_claims(&c);
    assert!(
        auth.verify(&t).await.is_ok(),
        "the forged sign-out revoked nothing"
    );
    let mut expired = claims_for(&user);
    expired.exp = Utc::now().timestamp() - 5;
    assert!(matches!(
        auth.revoke(&sign_claims(&expired)).await,
        Err(Error::Expired)
    ));
}

/// A store whose every call fails, to show checks fail closed.
#[derive(Clone)]
struct BrokenStore;

fn broken<T>() -> Result<T, StoreError> {
    Err(StoreError::msg("connection refused"))
}

impl TokenStore for BrokenStore {
    fn token_table(&self) -> &str {
        auth_core::DEFAULT_TOKEN_TABLE
    }

    async fn upsert_token(&self, _: &NewTokenRow) -> Result<bool, StoreError> {
        broken()
    }
    async fn get_token(
        &self,
        _: &str,
        _: Option<&str>,
        _: DateTime<Utc>,
    ) -> Result<Option<TokenRow>, StoreError> {
        broken()
    }
    async fn insert_revocation(
        &self,
        _: &NewTokenRow,
        _: &[auth_core::AuditEvent],
    ) -> Result<bool, StoreError> {
        broken()
    }
    async fn is_revoked(&self, _: &str) -> Result<bool, StoreError> {
        broken()
    }
    async fn revoke_all_for_subject(
        &self,
        _: &RevokeAll<'_>,
        _: &[auth_core::AuditEvent],
    ) -> Result<u64, StoreError> {
        broken()
    }
    async fn revoke_tenant(&self, _: &str, _: std::time::Duration) -> Result<u64, StoreError> {
        broken()
    }
    async fn read_expired(&self, _: usize) -> Result<Vec<TokenRow>, StoreError> {
        broken()
    }
    async fn delete_expired(
        &self,
        _: DateTime<Utc>,
        _: usize,
    ) -> Result<auth_core::ExpungedBatch, StoreError> {
        broken()
    }
    async fn insert_token(&self, _: &NewTokenRow) -> Result<(), StoreError> {
        broken()
    }
    async fn lookup(&self, _: &str, _: Option<&str>) -> Result<auth_core::Rows, StoreError> {
        broken()
    }
    async fn insert_tokens(
        &self,
        _: &[NewTokenRow],
        _: &[auth_core::AuditEvent],
    ) -> Result<(), StoreError> {
        broken()
    }
    async fn end_sessions(
        &self,
        _: &str,
        _: auth_core::Sessions<'_>,
        _: &[auth_core::AuditEvent],
    ) -> Result<u64, StoreError> {
        broken()
    }
}

impl auth_core::RefreshStore for BrokenStore {
    async fn rotate_refresh(
        &self,
        _: &auth_core::Rotation<'_>,
    ) -> Result<auth_core::Rotated, StoreError> {
        broken()
    }
    async fn list_sessions(&self, _: &str, _: DateTime<Utc>) -> Result<Vec<TokenRow>, StoreError> {
        broken()
    }
}

impl auth_core::SingleUseStore for BrokenStore {
    async fn redeem(
        &self,
        _: &auth_core::Redeem<'_>,
        _: &[NewTokenRow],
        _: &[auth_core::AuditEvent],
    ) -> Result<bool, StoreError> {
        broken()
    }
    async fn live_tokens(
        &self,
        _: &str,
        _: &str,
        _: DateTime<Utc>,
    ) -> Result<Vec<TokenRow>, StoreError> {
        broken()
    }
}

impl UserStore<User> for BrokenStore {
    async fn apply_redeemed(
        &self,
        _: &uuid::Uuid,
        _: &serde_json::Map<String, serde_json::Value>,
        _: &auth_core::Redeem<'_>,
        _: &[auth_core::AuditEvent],
    ) -> Result<bool, StoreError> {
        broken()
    }
    async fn get_user(&self, _: &uuid::Uuid) -> Result<Option<User>, StoreError> {
        broken()
    }
    async fn get_user_by_identity(&self, _: &str) -> Result<Option<User>, StoreError> {
        broken()
    }
    async fn insert_user(&self, _: &User) -> Result<(), auth_core::InsertUserError> {
        Err(broken::<()>().unwrap_err().into())
    }
    async fn update_user(&self, _: &User) -> Result<bool, StoreError> {
        broken()
    }
    async fn insert_user_with_tokens(
        &self,
        _: &User,
        _: &[NewTokenRow],
        _: &[auth_core::AuditEvent],
    ) -> Result<(), auth_core::InsertUserError> {
        Err(broken::<()>().unwrap_err().into())
    }
}

#[tokio::test]
async fn a_store_error_fails_closed() {
    let user = User::new("ada@example.com");
    let t = sign_claims(&claims_for(&user));
    for allow_list in [false, true] {
        let auth = auth_tests::auth(allow_list, BrokenStore);
        assert!(
            matches!(auth.verify(&t).await, Err(Error::Store(_))),
            "{allow_list}"
        );
        assert!(matches!(auth.authenticate(&t).await, Err(Error::Store(_))));
        assert!(matches!(auth.revoke(&t).await, Err(Error::Store(_))));
    }
    // Storing fails the issue: a token that could never authenticate is not handed out.
    let auth = auth_tests::auth(true, BrokenStore);
    assert!(matches!(
        auth.token_for_user(&user, ExtraClaims::new()).await,
        Err(Error::Store(_))
    ));
}

#[tokio::test]
async fn a_missing_secret_fails_at_construction() {
    let tokens = TokenConfig::new(SigningSecret::Env("AUTH_TESTS_NO_SUCH_SECRET_VAR".into()));
    let e = Auth::<User, _>::from_settings(
        Settings::new(tokens, TokenResourceConfig::default()),
        MemoryStore::new(),
    )
    .unwrap_err();
    assert!(
        matches!(e, Error::Config(ref m) if m.contains("AUTH_TESTS_NO_SUCH_SECRET_VAR")),
        "{e}"
    );
    // A runtime override replaces it.
    let tokens = TokenConfig::new(SigningSecret::Env("AUTH_TESTS_NO_SUCH_SECRET_VAR".into()));
    let auth = Auth::<User, _>::with_secret(
        Settings::new(tokens, TokenResourceConfig::default()),
        &Secret::from("override-0123456789abcdef0123456789abcdef"),
        MemoryStore::new(),
    );
    assert!(auth.is_ok());
}

const ED25519_BUNDLE: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEILS17YlOyEE2gYiBF7JYFFi2pjuOji/Ass9RDOpALAoz
-----END PRIVATE KEY-----
-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAGVBoZWOdMgR32qCQ8dWqzrxYOGmQ8MAEWw/7fS87EQQ=
-----END PUBLIC KEY-----
";

const ES256_BUNDLE: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgA++oCjiOBOBYbue6
kyVtx/B64eHXfx2sutF+czhE7wChRANCAAQd81rbnvRZFkHhWzWwg1+1hPRmfiiK
Z5QYv/1tXl5dJmqx4+HHJ0MbyM4uzpzhtHOg9uf+UpbNSw81kgNGn623
-----END PRIVATE KEY-----
-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEHfNa2570WRZB4Vs1sINftYT0Zn4o
imeUGL/9bV5eXSZqsePhxydDG8jOLs6c4bRzoPbn/lKWzUsPNZIDRp+ttw==
-----END PUBLIC KEY-----
";

#[tokio::test]
async fn asymmetric_algorithms_sign_and_verify_and_refuse_confusion() {
    let user = User::new("ada@example.com");
    for (alg, bundle) in [
        (Algorithm::EdDSA, ED25519_BUNDLE),
        (Algorithm::ES256, ES256_BUNDLE),
    ] {
        let mut tokens = TokenConfig::new(SigningSecret::Literal(Secret::from(bundle)));
        tokens.algorithm = alg;
        let auth: Auth<User, _> = Auth::from_settings(
            Settings::new(tokens, TokenResourceConfig::default()),
            MemoryStore::new(),
        )
        .unwrap();
        let issued = auth
            .token_for_user(&user, ExtraClaims::new())
            .await
            .unwrap();
        assert!(auth.verify(&issued.token).await.is_ok(), "{alg}");
        // Algorithm confusion: an HS256 token "signed" with the public key text.
        let public = bundle.split("-----END PRIVATE KEY-----\n").nth(1).unwrap();
        let t = forge(
            &json!({"alg": "HS256"}),
            &payload(&claims_for(&user)),
            Algorithm::HS256,
            public,
        );
        assert!(
            matches!(auth.verify(&t).await, Err(Error::AlgorithmMismatch { .. })),
            "{alg}"
        );
    }
    // An HS256 resource refuses an EdDSA token.
    let mut tokens = TokenConfig::new(SigningSecret::Literal(Secret::from(ED25519_BUNDLE)));
    tokens.algorithm = Algorithm::EdDSA;
    let ed: Auth<User, _> = Auth::from_settings(
        Settings::new(tokens, TokenResourceConfig::default()),
        MemoryStore::new(),
    )
    .unwrap();
    let ed_token = ed
        .token_for_user(&user, ExtraClaims::new())
        .await
        .unwrap()
        .token;
    let hs = auth_tests::auth(false, MemoryStore::new());
    // It names a key this resource does not have.
    assert!(matches!(
        hs.verify(&ed_token).await,
        Err(Error::UnknownKey(_))
    ));
    // A bad key is refused at construction, not at first use.
    let mut tokens = TokenConfig::new(SigningSecret::Literal(Secret::from("not a pem")));
    tokens.algorithm = Algorithm::RS256;
    let e = Auth::<User, _>::from_settings(
        Settings::new(tokens, TokenResourceConfig::default()),
        MemoryStore::new(),
    )
    .unwrap_err();
    assert!(matches!(e, Error::Config(_)));
}

#[tokio::test]
async fn malformed_tokens_are_refused_without_panicking() {
    let (auth, user) = setup(false).await;
    let good = sign_claims(&claims_for(&user));
    let huge = "a".repeat(1 << 20);
    let cases = [
        String::new(),
        "abc".into(),
        "a.b".into(),
        format!("{good}.extra"),
        "!!!.###.$$$".into(),
        format!("e30.{}", good.split('.').nth(1).unwrap()) + ".sig",
        huge,
    ];
    for t in &cases {
        let e = auth.verify(t).await.unwrap_err();
        assert!(matches!(e, Error::MalformedToken(_)), "{e:?}");
    }
    // A correctly signed payload that is not an object.
    let t = forge(
        &json!({"alg": "HS256"}),
        &json!([1, 2]),
        Algorithm::HS256,
        SECRET,
    );
    assert!(matches!(
        auth.verify(&t).await,
        Err(Error::MalformedToken(_))
    ));
    // Claims of the wrong JSON type.
    for (claim, bad) in [
        ("exp", json!("9999999999")),
        ("exp", json!(1e12)),
        ("nbf", Value::Null),
    ] {
        let mut p = claims_for(&user).to_json();
        p.insert(claim.into(), bad);
        let t = forge(
            &json!({"alg": "HS256"}),
            &Value::Object(p),
            Algorithm::HS256,
            SECRET,
        );
        assert!(matches!(auth.verify(&t).await, Err(Error::InvalidClaim(c)) if c == claim));
    }
    for claim in ["sub", "jti", "purpose"] {
        let mut p = claims_for(&user).to_json();
        p.remove(claim);
        let t = forge(
            &json!({"alg": "HS256"}),
            &Value::Object(p),
            Algorithm::HS256,
            SECRET,
        );
        assert!(matches!(auth.verify(&t).await, Err(Error::InvalidClaim(c)) if c == claim));
    }
}

#[tokio::test]
async fn bearer_header_parsing() {
    let (auth, user) = setup(false).await;
    let issued = auth
        .token_for_user(&user, ExtraClaims::new())
        .await
        .unwrap();
    for h in [
        format!("Bearer {}", issued.token),
        format!("bearer  {} ", issued.token),
    ] {
        assert!(auth.authenticate_bearer(&h).await.is_ok(), "{h}");
    }
    for h in ["", "Bearer", "Bearer ", "Basic abc", &issued.token] {
        assert!(
            matches!(
                auth.authenticate_bearer(h).await,
                Err(Error::MalformedToken(_))
            ),
            "{h}"
        );
    }
}

#[tokio::test]
async fn a_deleted_user_cannot_authenticate() {
    let auth = auth(false, MemoryStore::new());
    let ghost = User::new("ghost@example.com");
    let issued = auth
        .token_for_user(&ghost, ExtraClaims::new())
        .await
        .unwrap();
    assert!(matches!(
        auth.authenticate(&issued.token).await,
        Err(Error::UserNotFound)
    ));
}
