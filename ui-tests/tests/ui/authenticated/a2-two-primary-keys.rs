use auth_core::{Authenticated, token_resource};
use serde::{Deserialize, Serialize};

#[token_resource]
pub struct Token;

#[derive(Authenticated, Clone, Debug, Serialize, Deserialize)]
#[authentication(subject_name = "user")]
pub struct User {
    #[authentication(primary_key)]
    pub uid: i64,
    #[authentication(primary_key)]
    pub email: String,
}

fn main() {}
