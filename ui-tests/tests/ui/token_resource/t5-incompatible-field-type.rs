use auth_core::token_resource;

#[token_resource]
pub struct Token {
    pub expires_at: i64,
}

fn main() {}
