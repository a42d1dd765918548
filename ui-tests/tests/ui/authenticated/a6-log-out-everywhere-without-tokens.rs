use auth_core::{Authenticated, token_resource};
use serde::{Deserialize, Serialize};

#[token_resource]
pub struct Token;

#[derive(Authenticated, Clone, Debug, Serialize, Deserialize)]
#[authentication(add_ons(log_out_everywhere()))]
pub struct User {
    pub id: i64,
    pub email: String,
    pub hashed_password: String,
}

fn main() {}
