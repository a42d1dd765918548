use auth_core::token_resource;

#[token_resource(store_token_action_name = "save", get_token_action_name = "save")]
pub struct Token;

fn main() {}
