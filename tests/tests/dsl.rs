//! `#[derive(Authenticated)]` end to end: the crate documentation's full DSL
//! example (`auth-core/docs/full_dsl.rs`) compiles and its configuration
//! reaches the runtime.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use auth_core::{
    Algorithm, Auth, Authenticated, Error, ExtraClaims, MemoryStore, Purpose, SessionIdentifier,
    UserResource, UserStore, token_resource,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

// The full DSL example of auth-core's crate documentation, written once.
include!("../../auth-core/docs/full_dsl.rs");

#[derive(Authenticated, Clone, Debug, Serialize, Deserialize)]
#[authentication(
    tokens(
        token_resource = Token,
        signing_secret = "literal-secret-for-tests-0123456789abcdef0123456789abcdef0123456789abcdef",
        signing_algorithm = "HS512",
        token_lifetime = "2h",
        leeway = "30s",
        store_all_tokens,
        require_token_presence_for_authentication,
        extra_claims(app_version = "1.0", tier = 3),
        issuer = "my-app",
        audience = "my-api",
    ),
)]
pub struct ServiceAccount {
    pub id: i64,
    pub name: String,
}

#[derive(Authenticated, Clone, Debug, Serialize, Deserialize)]
#[authentication(subject_name = "member")]
pub struct NoTokens {
    #[authentication(primary_key)]
    pub handle: String,
}

#[test]
fn metadata_and_settings() {
    assert_eq!(User::SUBJECT_NAME, "user");
    assert_eq!(User::PRIMARY_KEY_FIELD, "id");
    let s = User::settings();
    assert_eq!(s.tokens.algorithm, Algorithm::HS256);
    assert_eq!(s.tokens.token_lifetime.as_secs(), 14 * 86_400);
    assert!(s.tokens.store_all_tokens && s.tokens.require_token_presence_for_authentication);
    assert_eq!(s.session_identifier, SessionIdentifier::Jti);
    assert_eq!(s.token_resource.table, "tokens");
    let pw = s.password.unwrap();
    assert_eq!(
        (pw.identity_field, pw.hashed_password_field),
        ("email", "hashed_password")
    );
    assert_eq!(pw.sign_in_token_lifetime.as_secs(), 60);
    let l = s.log_out_everywhere.unwrap();
    assert!(l.apply_on_password_change);
    assert!(l.purposes.matches("user") && l.purposes.matches("sign_in"));
    assert!(!l.purposes.matches("revocation") && !l.purposes.matches("confirm"));

    assert_eq!(ServiceAccount::SUBJECT_NAME, "service_account");
    let s = ServiceAccount::settings();
    assert_eq!(s.tokens.algorithm, Algorithm::HS512);
    assert_eq!(
        (s.tokens.token_lifetime.as_secs(), s.tokens.leeway.as_secs()),
        (7200, 30)
    );
    assert_eq!(
        (s.tokens.issuer.as_str(), s.tokens.audience.as_str()),
        ("my-app", "my-api")
    );
    assert_eq!(s.session_identifier, SessionIdentifier::Unset);

    assert_eq!(NoTokens::SUBJECT_NAME, "member");
    assert_eq!(NoTokens::PRIMARY_KEY_FIELD, "handle");
    let n = NoTokens {
        handle: "a b".into(),
    };
    assert_eq!(n.subject(), "member?handle=a+b");
}

#[tokio::test]
async fn the_derived_user_runs_end_to_end() {
    // With the environment variable unset, construction says so; a runtime
    // secret overrides it either way.
    if std::env::var_os("TOKEN_SIGNING_SECRET").is_none() {
        let e = Auth::<User, _>::new(MemoryStore::new()).unwrap_err();
        assert!(matches!(e, Error::Config(ref m) if m.contains("TOKEN_SIGNING_SECRET")));
    }
    let secret = auth_core::Secret::from("from-the-vault-0123456789abcdef0123456789abcdef");
    let auth = Auth::with_secret(User::settings(), &secret, MemoryStore::new()).unwrap();
    let ada = User {
        id: Uuid::new_v4(),
        email: "ada@example.com".into(),
        hashed_password: String::new(),
        role: "admin".into(),
    };
    assert_eq!(ada.identity(), Some("ada@example.com"));
    auth.store().insert_user(&ada).await.unwrap();
    let issued = auth.token_for_user(&ada, ExtraClaims::new()).await.unwrap();
    assert_eq!(issued.claims.extra["role"], "admin");
    let me = auth.authenticate(&issued.token).await.unwrap();
    assert_eq!(me.user.id, ada.id);
    let row = Token::get_token(auth.store(), &issued.claims.jti, Some(&Purpose::USER))
        .await
        .unwrap();
    assert!(row.is_some(), "stored in the token resource");
    auth.revoke(&issued.token).await.unwrap();
    assert!(matches!(
        auth.authenticate(&issued.token).await,
        Err(Error::Revoked)
    ));
}

#[tokio::test]
async fn static_extra_claims_reach_the_token() {
    let auth = Auth::<ServiceAccount, _>::new(MemoryStore::new()).unwrap();
    let bot = ServiceAccount {
        id: 9,
        name: "bot".into(),
    };
    let issued = auth.token_for_user(&bot, ExtraClaims::new()).await.unwrap();
    assert_eq!(issued.claims.extra["app_version"], "1.0");
    assert_eq!(issued.claims.extra["tier"], 3);
    assert_eq!(issued.claims.iss, "my-app");
    assert_eq!(issued.claims.exp - issued.claims.iat, 7200);
}
