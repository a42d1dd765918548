//! Issue, verify and revoke a token on the in-memory store.
//!
//! `cargo run -p quickstart`

use auth_core::{
    Auth, Error, ExtraClaims, MemoryStore, Secret, Settings, SigningSecret, TokenConfig,
    TokenResourceConfig, UserResource, UserStore,
};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
struct User {
    id: i64,
    email: String,
}

impl UserResource for User {
    type PrimaryKey = i64;
    const SUBJECT_NAME: &'static str = "user";
    const PRIMARY_KEY_FIELD: &'static str = "id";
    fn primary_key(&self) -> i64 {
        self.id
    }
    fn identity(&self) -> Option<&str> {
        Some(&self.email)
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A real application reads the secret from the environment
    // (`SigningSecret::Env("TOKEN_SIGNING_SECRET".into())`).
    let mut tokens = TokenConfig::new(SigningSecret::Literal(Secret::random()?));
    tokens.store_all_tokens = true;
    tokens.require_token_presence_for_authentication = true;
    let settings = Settings::new(tokens, TokenResourceConfig::default());
    let auth = Auth::from_settings(settings, MemoryStore::new())?;

    let ada = User {
        id: 1,
        email: "ada@example.com".into(),
    };
    auth.store().insert_user(&ada).await?;

    let issued = auth.token_for_user(&ada, ExtraClaims::new()).await?;
    println!(
        "issued a token for {} (jti {})",
        issued.claims.sub, issued.claims.jti
    );

    let me = auth
        .authenticate_bearer(&format!("Bearer {}", issued.token))
        .await?;
    println!("authenticated {} <{}>", me.user.id, me.user.email);

    auth.revoke(&issued.token).await?;
    match auth.authenticate(&issued.token).await {
        Err(Error::Revoked) => println!("after sign-out the token is refused: revoked"),
        other => return Err(format!("expected a revoked token, got {other:?}").into()),
    }
    Ok(())
}
