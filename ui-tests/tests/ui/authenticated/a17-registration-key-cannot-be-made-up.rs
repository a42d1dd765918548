use auth_core::{Auth, Authenticated, ExtraClaims, MemoryStore, token_resource};
use serde::{Deserialize, Serialize};

#[token_resource]
pub struct Token;

#[derive(Authenticated, Clone, Debug, Serialize, Deserialize)]
#[authentication(
    tokens(token_resource = Token, signing_secret = "s", store_all_tokens, require_token_presence_for_authentication),
    strategies(password()),
)]
pub struct User {
    pub id: i32,
    pub email: String,
    pub hashed_password: String,
}

async fn sign_up(auth: &Auth<User, MemoryStore>) {
    let input = UserRegistration {
        email: "ada@example.com".into(),
        password: "correct horse".into(),
        password_confirmation: None,
    };
    let _ = User::register_with_password(auth, input, ExtraClaims::new()).await;
}

fn main() {
    let _ = sign_up;
}
