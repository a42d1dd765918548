use auth_core::token_resource;

#[token_resource]
pub struct Token {
    pub user_id: i64,
}

fn main() {}
