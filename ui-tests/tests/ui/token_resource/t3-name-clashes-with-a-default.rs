use auth_core::token_resource;

#[token_resource(store_token_action_name = "revoke_token")]
pub struct Token;

fn main() {}
