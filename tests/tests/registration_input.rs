//! The registration input reads the JSON the user type reads: field
//! attributes and the container's `rename_all` / `deny_unknown_fields`
//! carry over.

use auth_core::{Authenticated, token_resource};
use serde::{Deserialize, Serialize};

#[token_resource]
pub struct Token;

#[derive(Authenticated, Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[authentication(
    tokens(token_resource = Token, store_all_tokens, require_token_presence_for_authentication),
    strategies(password()),
)]
pub struct User {
    pub id: uuid::Uuid,
    pub email: String,
    pub hashed_password: String,
    pub display_name: String,
    #[serde(default)]
    pub newsletter: bool,
}

#[test]
fn the_input_reads_the_users_json() {
    let input: UserRegistration = serde_json::from_value(serde_json::json!({
        "email": "ada@example.com",
        "displayName": "Ada",
        "password": "correct horse",
        "passwordConfirmation": "correct horse",
    }))
    .unwrap();
    assert_eq!(input.display_name, "Ada");
    assert!(!input.newsletter, "a field's own `default` carries over");
    assert_eq!(
        input.password_confirmation.as_deref(),
        Some("correct horse")
    );
    let unknown = serde_json::from_value::<UserRegistration>(serde_json::json!({
        "email": "ada@example.com",
        "displayName": "Ada",
        "password": "correct horse",
        "role": "admin",
    }));
    assert!(unknown.is_err(), "deny_unknown_fields carries over");
}
