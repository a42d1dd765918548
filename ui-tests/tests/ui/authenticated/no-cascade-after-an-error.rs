//! A mistake in the attribute is the only error, though the type is used as a user resource.
use auth_core::{Auth, Authenticated, MemoryStore, UserResource, token_resource};
use serde::{Deserialize, Serialize};

#[token_resource]
pub struct Token;

#[derive(Authenticated, Clone, Debug, Serialize, Deserialize)]
#[authentication(tokens(token_resource = Token, token_lifetime = "forever"))]
pub struct User {
    pub id: i64,
}

fn main() {
    let _ = Auth::<User, _>::new(MemoryStore::new());
    let _ = User::SUBJECT_NAME;
}
