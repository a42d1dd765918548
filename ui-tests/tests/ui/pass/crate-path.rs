//! A crate that re-exports auth_core points the macros at it with `crate = "..."`.
use serde::{Deserialize, Serialize};
use ui_tests::reexported_auth::{self as auth, Authenticated, token_resource};

#[token_resource(crate = ui_tests::reexported_auth)]
pub struct Token;

#[derive(Authenticated, Clone, Debug, Serialize, Deserialize)]
#[authentication(
    crate = ui_tests::reexported_auth,
    session_identifier = "jti",
    tokens(token_resource = Token, signing_secret = "s"),
)]
pub struct User {
    pub id: i64,
}

fn main() {
    let _ = <User as auth::Authenticated>::settings();
}
