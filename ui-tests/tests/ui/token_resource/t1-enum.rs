use auth_core::token_resource;

#[token_resource]
pub enum Token {
    A,
}

fn main() {}
