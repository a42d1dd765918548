use auth_core::{Authenticated, token_resource};
use serde::{Deserialize, Serialize};

#[token_resource]
pub struct Token;

#[derive(Authenticated, Clone, Debug, Serialize, Deserialize)]
#[authentication(session_identifier = "jti", tokens(token_resource = Token, signing_secret = "s", require_token_presence_for_authentication))]
pub struct User {
    pub id: i64,
    pub email: String,
    pub hashed_password: String,
}

fn main() {}
