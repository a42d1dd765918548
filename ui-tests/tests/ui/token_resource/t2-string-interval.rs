use auth_core::token_resource;

#[token_resource(expunge_interval = "12")]
pub struct Token;

fn main() {}
