use auth_core::Authenticated;
use serde::{Deserialize, Serialize};

#[derive(Authenticated, Clone, Debug, Serialize, Deserialize)]
#[authentication(strategies(remember_me(cookie_name = "remember_me", token_lifetime = "30d")))]
pub struct User {
    pub id: i64,
}

fn main() {}
