use auth_core::{Authenticated, UserResource};
use serde::{Deserialize, Serialize};

#[derive(Authenticated, Clone, Debug, Serialize, Deserialize)]
#[authentication(
    tokens(enabled = false),
    strategies(password(sign_in_tokens_enabled = false)),
)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub hashed_password: String,
}

#[derive(Authenticated, Clone, Debug, Serialize, Deserialize)]
pub struct Bare {
    pub id: i64,
}

fn main() {
    assert_eq!(User::SUBJECT_NAME, "user");
    assert_eq!(Bare::SUBJECT_NAME, "bare");
}
