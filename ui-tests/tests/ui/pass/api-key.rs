use auth_core::{Auth, Authenticated, MemoryStore, token_resource};
use serde::{Deserialize, Serialize};

#[token_resource]
pub struct Token;

#[derive(Authenticated, Clone, Debug, Serialize, Deserialize)]
#[authentication(
    session_identifier = "jti",
    tokens(token_resource = Token, signing_secret = "s-0123456789abcdef0123456789abcdef"),
    strategies(api_key(
        prefix = "myapp",
        scopes = ["reports:read", "reports:write"],
        default_lifetime = "30d",
        max_per_user = 10,
    )),
)]
pub struct User {
    pub id: i64,
    pub email: String,
}

/// Ending every sign-in (here a password change or reset) revokes keys.
#[derive(Authenticated, Clone, Debug, Serialize, Deserialize)]
#[authentication(
    session_identifier = "jti",
    tokens(token_resource = Token, signing_secret = "s-0123456789abcdef0123456789abcdef"),
    strategies(password(), api_key(prefix = "member", revoke_with_sign_ins = true)),
)]
pub struct Member {
    pub id: i64,
    pub email: String,
    pub hashed_password: String,
}

async fn every_action(auth: &Auth<User, MemoryStore>, user: &User) -> Result<(), auth_core::Error> {
    let created = User::create_api_key(auth, user, "ci", &["reports:read"], None).await?;
    let found = User::authenticate_api_key(auth, &created.key).await?;
    found.require_scope("reports:read")?;
    let _listed: Vec<auth_core::ApiKeyInfo> = User::list_api_keys(auth, user).await?;
    User::revoke_api_key(auth, user, &created.info.id).await?;
    let _count: u64 = User::revoke_all_api_keys(auth, user).await?;
    Ok(())
}

fn main() {
    let settings = User::settings();
    let keys = settings.api_key.expect("configured");
    assert_eq!(keys.prefix, "myapp");
    assert_eq!(&*keys.scopes, &["reports:read", "reports:write"]);
    assert_eq!(keys.default_lifetime.as_secs(), 30 * 86_400);
    assert_eq!(keys.max_per_user, 10);
    assert!(!keys.revoke_with_sign_ins, "keys outlive sign-ins by default");
    assert!(Member::settings().api_key.expect("configured").revoke_with_sign_ins);
    let _ = every_action;
}
