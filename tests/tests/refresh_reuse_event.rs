//! A reused refresh token emits one `warn` event, `refresh_token_reused`,
//! naming the subject and the session, never a token.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::CapturedLog;

use auth_core::{
    Auth, Authenticated, ClientInfo, Error, HashCost, MemoryStore, Secret, token_resource,
};
use serde::{Deserialize, Serialize};

#[token_resource]
pub struct Token;

#[derive(Authenticated, Clone, Debug, Serialize, Deserialize)]
#[authentication(
    tokens(token_resource = Token, token_lifetime = "15m", refresh_tokens(lifetime = "7d")),
    session_identifier = "jti",
    strategies(password()),
    add_ons(sessions(lifetime = "30d")),
)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub hashed_password: String,
}

#[test]
fn a_reused_refresh_token_is_a_warn_event_without_the_token() {
    let buf = CapturedLog::install("warn");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (signed, pair) = rt.block_on(async {
        let secret = Secret::from("refresh-event-secret-0123456789abcdef0123456789");
        let auth = Auth::with_secret(User::settings(), &secret, MemoryStore::new())
            .unwrap()
            .with_hash_cost(HashCost::INSECURE_FAST_FOR_TESTS)
            .unwrap();
        let user = User {
            id: 7,
            email: "ada@example.com".into(),
            hashed_password: String::new(),
        };
        let signed = auth
            .register_with_password(
                user,
                "password-1",
                Some("password-1"),
                ClientInfo::default(),
            )
            .await
            .unwrap();
        let refresh = signed.refresh_token.clone().unwrap();
        let pair = User::refresh(&auth, &refresh.token).await.unwrap();
        assert!(matches!(
            User::refresh(&auth, &refresh.token).await,
            Err(Error::RefreshTokenReused)
        ));
        (signed, pair)
    });
    let log = buf.contents();
    let events: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("refresh_token_reused"))
        .collect();
    assert_eq!(events.len(), 1, "{log}");
    let event = events[0];
    assert!(event.contains("WARN"), "{event}");
    assert!(event.contains("user?id=7"), "{event}");
    assert!(
        event.contains(signed.session.as_deref().unwrap()),
        "{event}"
    );
    for token in [
        &signed.token.token,
        &signed.refresh_token.as_ref().unwrap().token,
        &pair.token.token,
        &pair.refresh_token.token,
    ] {
        for segment in token.split('.') {
            assert!(!log.contains(segment), "a token segment was logged: {log}");
        }
    }
}
