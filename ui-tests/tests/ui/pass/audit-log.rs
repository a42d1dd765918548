use auth_core::{Authenticated, IpMode, token_resource};
use serde::{Deserialize, Serialize};

#[token_resource]
pub struct Token;

#[derive(Authenticated, Clone, Debug, Serialize, Deserialize)]
#[authentication(
    session_identifier = "jti",
    tokens(token_resource = Token, signing_secret = "s-0123456789abcdef0123456789abcdef"),
    strategies(password()),
    add_ons(audit_log(retention = "30d", ip = truncate)),
)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub hashed_password: String,
}

/// The defaults.
#[derive(Authenticated, Clone, Debug, Serialize, Deserialize)]
#[authentication(
    session_identifier = "jti",
    tokens(token_resource = Token, signing_secret = "s-0123456789abcdef0123456789abcdef"),
    strategies(password()),
    add_ons(audit_log()),
)]
pub struct Member {
    pub id: i64,
    pub email: String,
    pub hashed_password: String,
}

async fn listed(auth: &auth_core::Auth<User, auth_core::MemoryStore>, user: &User) {
    let events: Vec<auth_core::AuditEvent> = User::list_events(auth, user, 10).await.unwrap_or_default();
    let _ = events;
}

fn main() {
    let _ = listed;
    let log = User::settings().audit_log.expect("configured");
    assert_eq!((log.retention.as_secs(), log.ip), (30 * 86_400, IpMode::Truncate));
    let log = Member::settings().audit_log.expect("configured");
    assert_eq!((log.retention.as_secs(), log.ip), (90 * 86_400, IpMode::Hash));
}
