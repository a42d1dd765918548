//! An option that does not parse is the only error: the renamed actions
//! the attribute names are still there for the code that calls them.
use auth_core::{Auth, Authenticated, ClientInfo, MemoryStore, TokenType, token_resource};
use serde::{Deserialize, Serialize};

#[token_resource]
pub struct Token;

#[derive(Authenticated, Clone, Debug, Serialize, Deserialize)]
#[authentication(
    tokens(token_resource = Token, store_all_tokens, require_token_presence_for_authentication),
    strategies(password(register_action_name = "sign_up", sign_in_enabeld = true)),
)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub hashed_password: String,
}

async fn flows(auth: &Auth<User, MemoryStore>) -> Result<(), auth_core::Error> {
    let input = UserRegistration {
        email: "ada@example.com".into(),
        password: "correct horse".into(),
        password_confirmation: None,
    };
    User::sign_up(auth, input, ClientInfo::default()).await?;
    User::sign_in_with_password(auth, "ada@example.com", "correct horse", TokenType::User, ClientInfo::default()).await?;
    Ok(())
}

fn main() {
    let _ = flows;
}
