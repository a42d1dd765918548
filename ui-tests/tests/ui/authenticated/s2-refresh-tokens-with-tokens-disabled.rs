use auth_core::{Authenticated, token_resource};
use serde::{Deserialize, Serialize};

#[token_resource]
pub struct Token;

#[derive(Authenticated, Clone, Debug, Serialize, Deserialize)]
#[authentication(tokens(enabled = false, token_resource = Token, refresh_tokens(lifetime = "7d")), add_ons(sessions()))]
pub struct User {
    pub id: i64,
    pub email: String,
    pub hashed_password: String,
}

fn main() {}
