use auth_core::token_resource;

#[token_resource(tabel = "tokens")]
pub struct Token;

fn main() {}
