//! The registration input: generated with the register action, named after
//! the user, holding every field but the key, the hash and `confirmed_at`.
//! A key type registration cannot make up is fine while the action is not
//! called.
use auth_core::{Authenticated, HashedPassword, token_resource};
use serde::{Deserialize, Serialize};

#[token_resource]
pub struct Token;

#[derive(Authenticated, Clone, Debug, Serialize, Deserialize)]
#[authentication(
    tokens(token_resource = Token, signing_secret = "s", store_all_tokens, require_token_presence_for_authentication),
    strategies(password()),
    add_ons(confirmation(monitor_fields = ["email"])),
)]
pub struct User {
    pub id: uuid::Uuid,
    pub email: String,
    pub hashed_password: HashedPassword,
    #[serde(default)]
    pub nickname: Option<String>,
    pub confirmed_at: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Authenticated, Clone, Debug, Serialize, Deserialize)]
#[authentication(
    tokens(token_resource = Token, signing_secret = "s", store_all_tokens, require_token_presence_for_authentication),
    strategies(password()),
)]
pub struct Legacy {
    pub id: i32,
    pub email: String,
    pub hashed_password: String,
}

fn main() {
    let _ = UserRegistration {
        email: "ada@example.com".into(),
        nickname: None,
        password: "correct horse".into(),
        password_confirmation: None,
    };
    let _ = LegacyRegistration {
        email: "ada@example.com".into(),
        password: "correct horse".into(),
        password_confirmation: None,
    };
}
