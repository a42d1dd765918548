use auth_core::{Authenticated, token_resource};
use serde::{Deserialize, Serialize};

#[token_resource]
pub struct Token;

#[derive(Authenticated, Clone, Debug, Serialize, Deserialize)]
#[authentication(
    session_identifier = "jti",
    tokens(token_resource = Token),
    strategies(password()),
    tenancy(strategy = org, field = org_id),
)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub hashed_password: String,
    pub org_id: String,
}

fn main() {}
