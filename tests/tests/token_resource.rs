//! The actions `#[token_resource]` generates, with default and renamed names, on `MemoryStore`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use auth_core::{
    Error, MemoryStore, Purpose, PurposeFilter, TokenFacts, TokenResource, token_resource,
};
use auth_tests::conformance::facts;
use serde_json::json;

#[token_resource]
pub struct Token;

#[token_resource(
    table = "legacy_tokens",
    expunge_interval = 3,
    created_at_attribute_name = "inserted_at",
    expunge_expired_action_name = "purge",
    read_expired_action_name = "list_expired",
    store_token_action_name = "remember",
    get_token_action_name = "fetch",
    revocation(
        revoke_token_action_name = "kill",
        revoke_jti_action_name = "kill_jti",
        revoke_all_stored_for_subject_action_name = "kill_all",
        is_revoked_action_name = "is_dead",
    ),
    confirmation(
        store_changes_action_name = "stash",
        get_changes_action_name = "unstash"
    )
)]
#[derive(Debug, Clone)]
pub struct LegacyToken {
    pub subject: Option<String>,
}

#[tokio::test]
async fn default_actions_work() {
    let store = MemoryStore::new();
    assert_eq!(Token::CONFIG.table, "tokens");
    assert_eq!(Token::CONFIG.expunge_interval.as_secs(), 12 * 3600);
    let f = facts("user?id=1", 600);
    Token::store_token(&store, &f, &Purpose::USER, Some(json!({"role": "x"})))
        .await
        .unwrap();
    let row: Token = Token::get_token(&store, &f.jti, Some(&Purpose::USER))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (row.jti.as_str(), row.subject.as_str(), row.purpose.as_str()),
        (f.jti.as_str(), "user?id=1", "user")
    );
    assert_eq!(row.expires_at, f.expires_at);
    assert_eq!(row.extra_data, Some(json!({"role": "x"})));
    assert!(row.created_at <= row.updated_at);

    assert!(!Token::is_revoked(&store, &f.jti).await.unwrap());
    Token::revoke_token(&store, &f).await.unwrap();
    assert!(matches!(
        Token::revoke_token(&store, &f).await,
        Err(Error::AlreadyRevoked)
    ));
    assert!(Token::is_revoked(&store, &f.jti).await.unwrap());
    Token::revoke_jti(&store, "j", "user?id=1").await.unwrap();

    let g = facts("user?id=1", 600);
    Token::store_token(&store, &g, &Purpose::SIGN_IN, None)
        .await
        .unwrap();
    assert_eq!(
        Token::revoke_all_stored_for_subject(&store, "user?id=1", &PurposeFilter::all())
            .await
            .unwrap(),
        1
    );

    let old = facts("user?id=1", -5);
    Token::store_token(&store, &old, &Purpose::USER, None)
        .await
        .unwrap();
    let expired: Vec<Token> = Token::read_expired(&store, 10).await.unwrap();
    assert_eq!(expired.len(), 1);
    assert_eq!(Token::expunge_expired(&store).await.unwrap(), 1);

    let confirm = Purpose::from_static("confirm");
    let mut changes = serde_json::Map::new();
    changes.insert("email".into(), json!("b@example.com"));
    let c = facts("user?id=1", 600);
    Token::store_confirmation_changes(&store, &c, &confirm, changes.clone())
        .await
        .unwrap();
    assert_eq!(
        Token::get_confirmation_changes(&store, &c.jti, &confirm)
            .await
            .unwrap(),
        Some(changes)
    );
}

#[tokio::test]
async fn renamed_actions_and_a_redeclared_field_work() {
    let default = MemoryStore::new();
    let store = default.clone().with_token_table("legacy_tokens");
    assert_eq!(LegacyToken::CONFIG.table, "legacy_tokens");
    assert_eq!(LegacyToken::CONFIG.expunge_interval.as_secs(), 3 * 3600);
    let f: TokenFacts = facts("user?id=2", 600);
    // A store bound to another table is refused, and names the fix.
    let refused = LegacyToken::remember(&default, &f, &Purpose::USER, None).await;
    assert!(
        matches!(&refused, Err(auth_core::Error::Config(m)) if m.contains(".with_token_table(\"legacy_tokens\")")),
        "{refused:?}"
    );
    LegacyToken::remember(&store, &f, &Purpose::USER, None)
        .await
        .unwrap();
    let row = LegacyToken::fetch(&store, &f.jti, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.subject.as_deref(), Some("user?id=2"));
    let _renamed_created_at = row.inserted_at;
    assert_eq!(store.token_count(), 1);
    assert_eq!(default.token_count(), 0, "the rows of each table are apart");

    LegacyToken::kill(&store, &f).await.unwrap();
    assert!(LegacyToken::is_dead(&store, &f.jti).await.unwrap());
    LegacyToken::kill_jti(&store, "x", "user?id=2")
        .await
        .unwrap();
    assert_eq!(
        LegacyToken::kill_all(&store, "user?id=2", &PurposeFilter::all())
            .await
            .unwrap(),
        0
    );
    LegacyToken::remember(&store, &facts("user?id=2", -1), &Purpose::USER, None)
        .await
        .unwrap();
    assert_eq!(
        LegacyToken::list_expired(&store, 10).await.unwrap().len(),
        1
    );
    assert_eq!(LegacyToken::purge(&store).await.unwrap(), 1);
    let p = Purpose::from_static("confirm");
    let c = facts("user?id=2", 600);
    LegacyToken::stash(&store, &c, &p, serde_json::Map::new())
        .await
        .unwrap();
    assert!(
        LegacyToken::unstash(&store, &c.jti, &p)
            .await
            .unwrap()
            .is_some()
    );
}
