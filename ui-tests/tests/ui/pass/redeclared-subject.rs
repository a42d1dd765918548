//! A table migrated from an old schema: `subject` may be null there.
use auth_core::token_resource;

#[token_resource]
#[derive(Clone, Debug)]
pub struct Token {
    pub subject: Option<String>,
    pub jti: String,
}

fn main() {
    let t = Token {
        jti: String::new(),
        subject: None,
        expires_at: Default::default(),
        purpose: String::new(),
        extra_data: None,
        created_at: Default::default(),
        updated_at: Default::default(),
    };
    let _: Option<String> = t.subject;
}
