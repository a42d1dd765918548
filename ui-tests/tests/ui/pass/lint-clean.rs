// Generated code raises no warnings, even under strict lints.
#![deny(warnings, unused_qualifications, missing_debug_implementations)]

use auth_core::{Authenticated, token_resource};
use serde::{Deserialize, Serialize};

#[token_resource(table = "tokens", expunge_interval = 6)]
#[derive(Debug)]
pub struct Token;

#[derive(Authenticated, Clone, Debug, Serialize, Deserialize)]
#[authentication(
    tokens(
        token_resource = Token,
        token_lifetime = "15m",
        store_all_tokens,
        require_token_presence_for_authentication,
        extra_claims(tier = 3),
        refresh_tokens(lifetime = "7d"),
    ),
    strategies(
        password(resettable(token_lifetime = "1h")),
        remember_me(),
        magic_link(token_lifetime = "10m"),
    ),
    add_ons(
        sessions(),
        log_out_everywhere(apply_on_password_change),
        confirmation(monitor_fields = ["email"]),
    ),
)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub hashed_password: String,
    pub confirmed_at: Option<chrono::DateTime<chrono::Utc>>,
}

fn main() {
    let _ = <User as Authenticated>::settings();
}
