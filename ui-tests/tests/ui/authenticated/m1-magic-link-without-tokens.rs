use auth_core::Authenticated;
use serde::{Deserialize, Serialize};

#[derive(Authenticated, Clone, Debug, Serialize, Deserialize)]
#[authentication(strategies(
    password(sign_in_tokens_enabled = false),
    magic_link(token_lifetime = "10m"),
))]
pub struct User {
    pub id: i64,
    pub email: String,
    pub hashed_password: String,
}

fn main() {}
