use auth_core::Authenticated;
use serde::{Deserialize, Serialize};

#[derive(Authenticated, Clone, Debug, Serialize, Deserialize)]
#[authentication(strategies(password(sign_in_tokens_enabled = false, resettable(token_lifetime = "1h"))))]
pub struct User {
    pub id: i64,
    pub email: String,
    pub hashed_password: String,
}

fn main() {}
