use auth_core::{Authenticated, token_resource};
use serde::{Deserialize, Serialize};

#[token_resource]
pub struct Token;

#[derive(Authenticated, Clone, Debug, Serialize, Deserialize)]
#[authentication(session_identifier = "jti", tokens(token_resource = Token, signing_secret = "s", store_all_tokens), add_ons(log_out_everywhere()))]
pub struct User {
    pub id: i64,
    pub email: String,
    pub hashed_password: String,
}

fn main() {}
