use auth_core::{Authenticated, token_resource};
use serde::{Deserialize, Serialize};

#[token_resource]
pub struct Token;

#[derive(Authenticated, Clone, Debug, Serialize, Deserialize)]
#[authentication(subject_name = "user")]
pub struct User(pub i64);

fn main() {}
