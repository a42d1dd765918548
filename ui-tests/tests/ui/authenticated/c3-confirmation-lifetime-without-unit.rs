use auth_core::{Authenticated, token_resource};
use serde::{Deserialize, Serialize};

#[token_resource]
pub struct Token;

#[derive(Authenticated, Clone, Debug, Serialize, Deserialize)]
#[authentication(
    tokens(token_resource = Token, store_all_tokens, require_token_presence_for_authentication),
    strategies(password()),
    add_ons(confirmation(token_lifetime = "3")),
)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub hashed_password: String,
    pub confirmed_at: Option<chrono::DateTime<chrono::Utc>>,
}

fn main() {}
