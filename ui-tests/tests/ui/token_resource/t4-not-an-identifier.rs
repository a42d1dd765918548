use auth_core::token_resource;

#[token_resource(get_token_action_name = "get-token")]
pub struct Token;

fn main() {}
