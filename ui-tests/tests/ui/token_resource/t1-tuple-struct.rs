use auth_core::token_resource;

#[token_resource]
pub struct Token(String);

fn main() {}
