use auth_core::{MemoryStore, PurposeFilter, token_resource};

#[token_resource(
    table = "auth_tokens",
    expunge_interval = 1,
    created_at_attribute_name = "inserted_at",
    expunge_expired_action_name = "purge",
    read_expired_action_name = "expired",
    store_token_action_name = "save",
    get_token_action_name = "load",
    revocation(
        revoke_token_action_name = "revoke",
        revoke_jti_action_name = "revoke_id",
        revoke_all_stored_for_subject_action_name = "revoke_subject",
        is_revoked_action_name = "revoked",
    ),
    confirmation(store_changes_action_name = "stash", get_changes_action_name = "unstash"),
)]
pub struct Token;

async fn uses(store: &MemoryStore) {
    let _ = Token::purge(store).await;
    let _ = Token::expired(store, 10).await;
    let _ = Token::load(store, "jti", None).await.map(|t| t.map(|t| t.inserted_at));
    let _ = Token::revoke_id(store, "jti", "user?id=1").await;
    let _ = Token::revoke_subject(store, "user?id=1", &PurposeFilter::all()).await;
    let _ = Token::revoked(store, "jti").await;
}

fn main() {
    let _ = uses;
}
