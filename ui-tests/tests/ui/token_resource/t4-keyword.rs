use auth_core::token_resource;

#[token_resource(revocation(is_revoked_action_name = "fn"))]
pub struct Token;

fn main() {}
