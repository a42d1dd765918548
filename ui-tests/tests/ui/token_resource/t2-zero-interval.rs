use auth_core::token_resource;

#[token_resource(expunge_interval = 0)]
pub struct Token;

fn main() {}
