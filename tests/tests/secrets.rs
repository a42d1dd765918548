//! Secrets stay secret: redacted `Debug`, and no token, password, hash or
//! signing secret in the logs of a full flow (every level, every crate).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::CapturedLog;

use auth_core::{
    Auth, Authenticated, ExtraClaims, HashCost, HashedPassword, MemoryStore, PasswordStore, Secret,
    SigningSecret, SingleUseStore, TokenConfig, TokenResource, TokenType, spawn_expunger_every,
    token_resource,
};
use serde::{Deserialize, Serialize};

const SIGNING_SECRET: &str = "signing-secret-that-must-never-be-logged";
const PASSWORD: &str = "password-that-must-never-be-logged";
const NEW_PASSWORD: &str = "new-password-that-must-never-be-logged";

#[token_resource]
pub struct Token;

fn claims(_: &User, _: &auth_core::ClaimsContext) -> ExtraClaims {
    let mut m = ExtraClaims::new();
    m.insert("exp".into(), 1.into()); // ignored, with a warning naming the claim
    m
}

#[derive(Authenticated, Clone, Debug, Serialize, Deserialize)]
#[authentication(
    tokens(
        token_resource = Token,
        signing_secret = "overridden-at-runtime-0123456789abcdef0123456789abcdef",
        store_all_tokens,
        require_token_presence_for_authentication,
        extra_claims = claims,
    ),
    strategies(password()),
    add_ons(log_out_everywhere(apply_on_password_change)),
)]
pub struct User {
    pub id: uuid::Uuid,
    pub email: String,
    pub hashed_password: HashedPassword,
    pub role: String,
}

#[test]
fn debug_output_is_redacted() {
    let secret = Secret::from(SIGNING_SECRET);
    let mut tokens = TokenConfig::new(SigningSecret::Literal(secret.clone()));
    tokens.store_all_tokens = true;
    let auth = Auth::with_secret(User::settings(), &secret, MemoryStore::new()).unwrap();
    let user = User {
        id: uuid::Uuid::new_v4(),
        email: "ada@example.com".into(),
        hashed_password: HashedPassword::from(
            "$argon2id$v=19$m=19456,t=2,p=1$SALTSALT$HASHHASH".to_owned(),
        ),
        role: "member".into(),
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let issued = rt
        .block_on(auth.token_for_user(&user, ExtraClaims::new()))
        .unwrap();
    let signature = issued.token.rsplit('.').next().unwrap().to_owned();
    for (what, text) in [
        ("Secret", format!("{secret:?}")),
        (
            "SigningSecret",
            format!("{:?}", SigningSecret::Literal(secret.clone())),
        ),
        ("TokenConfig", format!("{tokens:?}")),
        ("Settings", format!("{:?}", User::settings())),
        ("Auth", format!("{auth:?}")),
        ("Jwt", format!("{:?}", auth.jwt())),
        ("IssuedToken", format!("{issued:?}")),
        ("User", format!("{user:?}")),
        ("HashedPassword", format!("{:?}", user.hashed_password)),
    ] {
        assert!(!text.contains(SIGNING_SECRET), "{what}: {text}");
        assert!(!text.contains("overridden-at-runtime"), "{what}: {text}");
        assert!(!text.contains("HASHHASH"), "{what}: {text}");
        assert!(!text.contains(&signature), "{what}: {text}");
    }
    assert!(
        format!("{issued:?}").contains(&issued.claims.jti),
        "claims stay visible"
    );
}

async fn full_flow<S>(auth: &Auth<User, S>) -> Vec<String>
where
    S: SingleUseStore + PasswordStore<User> + auth_core::ApiKeyStore + Clone + 'static,
{
    let mut tokens = Vec::new();
    let ada = User {
        id: uuid::Uuid::new_v4(),
        email: "ada@example.com".into(),
        hashed_password: HashedPassword::default(),
        role: "member".into(),
    };
    let s = auth
        .register_with_password(ada, PASSWORD, Some(PASSWORD), ExtraClaims::new())
        .await
        .unwrap();
    tokens.push(s.token.token.clone());
    let stored: User = auth.store().get_user(&s.user.id).await.unwrap().unwrap();
    tokens.push(stored.hashed_password.as_str().to_owned());
    assert!(
        User::sign_in_with_password(
            auth,
            "ada@example.com",
            "wrong",
            TokenType::User,
            ExtraClaims::new()
        )
        .await
        .is_err()
    );
    assert!(
        User::sign_in_with_password(
            auth,
            "nobody@example.com",
            PASSWORD,
            TokenType::User,
            ExtraClaims::new()
        )
        .await
        .is_err()
    );
    let sit = User::sign_in_with_password(
        auth,
        "ada@example.com",
        PASSWORD,
        TokenType::SignIn,
        ExtraClaims::new(),
    )
    .await
    .unwrap();
    tokens.push(sit.token.token.clone());
    let ex = User::sign_in_with_token(auth, &sit.token.token, ExtraClaims::new())
        .await
        .unwrap();
    tokens.push(ex.token.token.clone());
    assert!(
        User::sign_in_with_token(auth, &sit.token.token, ExtraClaims::new())
            .await
            .is_err()
    );
    assert!(auth.authenticate(&ex.token.token).await.is_ok());
    let forged = format!("{}x", ex.token.token);
    assert!(auth.authenticate(&forged).await.is_err());
    assert!(
        auth.authenticate_bearer(&format!("Bearer {}", s.token.token))
            .await
            .is_ok()
    );
    auth.revoke(&s.token.token).await.unwrap();
    assert!(auth.authenticate(&s.token.token).await.is_err());
    let fresh = User::change_password(
        auth,
        &ex.user,
        PASSWORD,
        NEW_PASSWORD,
        Some(NEW_PASSWORD),
        auth_core::ExtraClaims::new(),
    )
    .await
    .unwrap();
    tokens.push(fresh.token.token.clone());
    let stored: User = auth.store().get_user(&s.user.id).await.unwrap().unwrap();
    tokens.push(stored.hashed_password.as_str().to_owned());
    User::log_out_everywhere(auth, &fresh.user).await.unwrap();
    let handle = spawn_expunger_every(
        auth.store().clone(),
        std::time::Duration::from_millis(20),
        Token::CONFIG,
    );
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    handle.shutdown().await;
    tokens
}

#[test]
fn a_full_flow_logs_no_secrets() {
    let buf = CapturedLog::install("trace");
    let mut secrets = vec![
        SIGNING_SECRET.to_owned(),
        PASSWORD.to_owned(),
        NEW_PASSWORD.to_owned(),
    ];
    {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let secret = Secret::from(SIGNING_SECRET);
            let memory = Auth::with_secret(User::settings(), &secret, MemoryStore::new())
                .unwrap()
                .with_hash_cost(HashCost::INSECURE_FAST_FOR_TESTS)
                .unwrap();
            secrets.extend(full_flow(&memory).await);
            let db = auth_tests::pg::fresh_db().await;
            db.store.create_user_table::<User>().await.unwrap();
            let pg = Auth::with_secret(User::settings(), &secret, db.store.clone())
                .unwrap()
                .with_hash_cost(HashCost::INSECURE_FAST_FOR_TESTS)
                .unwrap();
            secrets.extend(full_flow(&pg).await);
        });
    }
    let logs = buf.contents();
    // The capture works: the flow did log, at several levels and from sqlx.
    assert!(logs.contains("extra claim ignored"), "{logs}");
    assert!(logs.contains("expunged expired tokens"), "{logs}");
    assert!(logs.contains("sqlx"), "sqlx statements are captured too");
    for secret in &secrets {
        assert!(
            !logs.contains(secret.as_str()),
            "logged a secret: {}…",
            &secret[..12.min(secret.len())]
        );
        // Nor any token's signature or payload segment on its own.
        for part in secret.split('.').filter(|p| p.len() > 20) {
            assert!(!logs.contains(part), "logged part of a token");
        }
    }
}
