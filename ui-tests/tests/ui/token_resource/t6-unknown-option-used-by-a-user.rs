//! A misspelled option is the only error: the token resource is still
//! generated, so the user resource naming it and its actions compile.
use auth_core::{Authenticated, MemoryStore, token_resource};
use serde::{Deserialize, Serialize};

#[token_resource(tabel = "tokens")]
pub struct Token;

#[derive(Authenticated, Clone, Debug, Serialize, Deserialize)]
#[authentication(tokens(token_resource = Token, store_all_tokens, require_token_presence_for_authentication))]
pub struct User {
    pub id: i64,
}

async fn lookup(store: &MemoryStore) {
    let _ = Token::get_token(store, "jti", None).await;
}

fn main() {
    let _ = lookup;
}
