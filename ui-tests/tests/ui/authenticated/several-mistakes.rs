//! Five mistakes, five errors: every mistake is reported at once.
//! mistakes: 5
use auth_core::{Authenticated, token_resource};
use serde::{Deserialize, Serialize};

#[token_resource]
pub struct Token;

#[derive(Authenticated, Clone, Debug, Serialize, Deserialize)]
#[authentication(tokens(signing_secret = "s", token_lifetime = "14", signing_algorithm = "none", require_token_presence_for_authentication), strategies(password(identity_field = "username")))]
pub struct User {
    pub id: i64,
    pub email: String,
    pub hashed_password: String,
}

fn main() {}
