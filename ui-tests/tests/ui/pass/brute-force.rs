use auth_core::{Authenticated, token_resource};
use serde::{Deserialize, Serialize};

#[token_resource]
pub struct Token;

#[derive(Authenticated, Clone, Debug, Serialize, Deserialize)]
#[authentication(
    session_identifier = "jti",
    tokens(token_resource = Token, signing_secret = "s-0123456789abcdef0123456789abcdef"),
    strategies(password()),
    add_ons(brute_force(
        max_failures = 3,
        max_failures_per_ip = 30,
        window = "10m",
        lockout = "1h",
        by = [identity, ip],
    )),
)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub hashed_password: String,
}

/// The defaults, counting addresses only.
#[derive(Authenticated, Clone, Debug, Serialize, Deserialize)]
#[authentication(
    session_identifier = "jti",
    tokens(token_resource = Token, signing_secret = "s-0123456789abcdef0123456789abcdef"),
    strategies(password()),
    add_ons(brute_force(by = [ip])),
)]
pub struct Member {
    pub id: i64,
    pub email: String,
    pub hashed_password: String,
}

fn main() {
    let b = User::settings().brute_force.expect("configured");
    assert_eq!((b.max_failures, b.max_failures_per_ip), (3, 30));
    assert_eq!((b.window.as_secs(), b.lockout.as_secs()), (600, 3_600));
    assert!(b.by_identity && b.by_ip);
    let m = Member::settings().brute_force.expect("configured");
    assert_eq!((m.max_failures, m.max_failures_per_ip), (5, 50));
    assert_eq!((m.window.as_secs(), m.lockout.as_secs()), (900, 900));
    assert!(!m.by_identity && m.by_ip);
}
