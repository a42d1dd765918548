use auth_core::{Authenticated, token_resource};
use serde::{Deserialize, Serialize};

#[token_resource]
pub struct Token;

#[derive(Authenticated, Clone, Debug, Serialize, Deserialize)]
#[authentication(
    session_identifier = "jti",
    tokens(token_resource = Token),
    strategies(api_key(prefix = "myapp", revoke_with_sign_ins = true)),
)]
pub struct User {
    pub id: i64,
    pub email: String,
}

fn main() {}
