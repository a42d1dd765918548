//! One mistake in the attribute is the only error, though the type is used
//! as a user resource and every generated action is called: the derive
//! still emits placeholders for all of them.
use auth_core::{Auth, ClientInfo, Authenticated, MemoryStore, TokenType, UserResource, token_resource};
use serde::{Deserialize, Serialize};

#[token_resource]
pub struct Token;

#[derive(Authenticated, Clone, Debug, Serialize, Deserialize)]
#[authentication(
    tokens(token_resource = Token, store_all_tokens, require_token_presence_for_authentication,
           token_lifetime = "forever", refresh_tokens()),
    strategies(password(register_action_name = "sign_up")),
    add_ons(sessions(), log_out_everywhere()),
)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub hashed_password: String,
}

async fn flows(auth: &Auth<User, MemoryStore>) -> Result<(), auth_core::Error> {
    let input = UserRegistration {
        email: "ada@example.com".into(),
        password: "correct horse".into(),
        password_confirmation: None,
    };
    let ada = User::sign_up(auth, input, ClientInfo::default()).await?;
    let signed_in = User::sign_in_with_password(auth, "ada@example.com", "correct horse", TokenType::User, ClientInfo::default()).await?;
    let refresh = signed_in.refresh_token.unwrap();
    User::refresh(auth, &refresh.token).await?;
    User::list_sessions(auth, &ada.user, None).await?;
    User::log_out_everywhere(auth, &ada.user).await?;
    Ok(())
}

fn main() {
    let _ = Auth::<User, _>::new(MemoryStore::new());
    let _ = User::SUBJECT_NAME;
    let _ = flows;
}
