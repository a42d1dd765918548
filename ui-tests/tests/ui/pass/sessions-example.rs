// The sessions and refresh tokens example, as documented.
use auth_core::{Authenticated, token_resource};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[token_resource]
pub struct Token;

#[derive(Authenticated, Clone, Debug, Serialize, Deserialize)]
#[authentication(
    tokens(
        token_resource = Token,
        token_lifetime = "15m",                 // access tokens: short
        store_all_tokens,
        require_token_presence_for_authentication,
        refresh_tokens(
            lifetime = "7d",                    // idle timeout: a refresh token unused this long dies
            reuse_grace = "30s",                // a second use this soon after the first is answered, not punished (default 0s)
        ),
    ),
    strategies(password()),
    add_ons(
        sessions(lifetime = "30d"),             // absolute cap of one sign-in, refreshes included
        log_out_everywhere(apply_on_password_change),
    ),
)]
pub struct User { pub id: Uuid, pub email: String, pub hashed_password: String, pub role: String }

fn main() {
    let settings = <User as auth_core::Authenticated>::settings();
    assert_eq!(settings.sessions.unwrap().lifetime.as_secs(), 30 * 86_400);
    let refresh = settings.refresh_tokens.unwrap();
    assert_eq!((refresh.lifetime.as_secs(), refresh.reuse_grace.as_secs()), (7 * 86_400, 30));
    let _ = (User::refresh::<auth_core::MemoryStore>, User::list_sessions::<auth_core::MemoryStore>);
}
