use auth_core::token_resource;

#[token_resource(revocation(revoke_all_action_name = "x"))]
pub struct Token;

fn main() {}
