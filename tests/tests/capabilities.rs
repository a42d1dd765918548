//! The storage traits are split by capability: a store that implements
//! only `TokenStore` and `UserStore` (no `RefreshStore`, no
//! `SingleUseStore`) still runs tokens, the allow-list, revocation, sign-in
//! from the application's own check, sign-out and log out everywhere. This
//! file compiles only while those paths ask for nothing more.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use auth_core::{
    Error, ExpungedBatch, ExtraClaims, InsertUserError, MemoryStore, NewTokenRow, Redeem,
    RevokeAll, Rows, Sessions, StoreError, TokenRow, TokenStore, UserStore,
};
use auth_tests::User;
use chrono::{DateTime, Utc};

/// Tokens and users, nothing else: every call goes to a `MemoryStore`.
#[derive(Clone, Default)]
struct OnlyTokens(MemoryStore);

impl TokenStore for OnlyTokens {
    fn token_table(&self) -> &str {
        self.0.token_table()
    }
    async fn upsert_token(&self, row: &NewTokenRow) -> Result<bool, StoreError> {
        self.0.upsert_token(row).await
    }
    async fn insert_token(&self, row: &NewTokenRow) -> Result<(), StoreError> {
        self.0.insert_token(row).await
    }
    async fn get_token(
        &self,
        jti: &str,
        purpose: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Option<TokenRow>, StoreError> {
        self.0.get_token(jti, purpose, now).await
    }
    async fn insert_revocation(
        &self,
        row: &NewTokenRow,
        e: &[auth_core::AuditEvent],
    ) -> Result<bool, StoreError> {
        self.0.insert_revocation(row, e).await
    }
    async fn is_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        self.0.is_revoked(jti).await
    }
    async fn revoke_all_for_subject(
        &self,
        revoke: &RevokeAll<'_>,
        e: &[auth_core::AuditEvent],
    ) -> Result<u64, StoreError> {
        self.0.revoke_all_for_subject(revoke, e).await
    }
    async fn revoke_tenant(
        &self,
        tenant: &str,
        keep_for: std::time::Duration,
    ) -> Result<u64, StoreError> {
        self.0.revoke_tenant(tenant, keep_for).await
    }
    async fn read_expired(&self, limit: usize) -> Result<Vec<TokenRow>, StoreError> {
        self.0.read_expired(limit).await
    }
    async fn delete_expired(
        &self,
        from: DateTime<Utc>,
        limit: usize,
    ) -> Result<ExpungedBatch, StoreError> {
        self.0.delete_expired(from, limit).await
    }
    async fn lookup(&self, jti: &str, sid: Option<&str>) -> Result<Rows, StoreError> {
        self.0.lookup(jti, sid).await
    }
    async fn insert_tokens(
        &self,
        rows: &[NewTokenRow],
        e: &[auth_core::AuditEvent],
    ) -> Result<(), StoreError> {
        self.0.insert_tokens(rows, e).await
    }
    async fn end_sessions(
        &self,
        subject: &str,
        which: Sessions<'_>,
        e: &[auth_core::AuditEvent],
    ) -> Result<u64, StoreError> {
        self.0.end_sessions(subject, which, e).await
    }
}

impl UserStore<User> for OnlyTokens {
    async fn get_user(&self, key: &uuid::Uuid) -> Result<Option<User>, StoreError> {
        UserStore::<User>::get_user(&self.0, key).await
    }
    async fn get_user_by_identity(&self, identity: &str) -> Result<Option<User>, StoreError> {
        UserStore::<User>::get_user_by_identity(&self.0, identity).await
    }
    async fn insert_user(&self, user: &User) -> Result<(), InsertUserError> {
        self.0.insert_user(user).await
    }
    async fn update_user(&self, user: &User) -> Result<bool, StoreError> {
        self.0.update_user(user).await
    }
    async fn apply_redeemed(
        &self,
        key: &uuid::Uuid,
        fields: &serde_json::Map<String, serde_json::Value>,
        redeem: &Redeem<'_>,
        e: &[auth_core::AuditEvent],
    ) -> Result<bool, StoreError> {
        UserStore::<User>::apply_redeemed(&self.0, key, fields, redeem, e).await
    }
    async fn insert_user_with_tokens(
        &self,
        user: &User,
        rows: &[NewTokenRow],
        e: &[auth_core::AuditEvent],
    ) -> Result<(), InsertUserError> {
        self.0.insert_user_with_tokens(user, rows, e).await
    }
}

#[tokio::test]
async fn a_store_without_the_optional_capabilities_runs_tokens_and_sign_out() {
    let store = OnlyTokens::default();
    let auth = auth_tests::auth(true, store.clone());
    let ada: User = auth_tests::new_member("ada@example.com");
    store.insert_user(&ada).await.unwrap();

    // Issue, authenticate (the allow-list reads the row), revoke.
    let issued = auth.token_for_user(&ada, ExtraClaims::new()).await.unwrap();
    assert_eq!(auth.authenticate(&issued.token).await.unwrap().user, ada);
    auth.revoke(&issued.token).await.unwrap();
    assert!(matches!(
        auth.authenticate(&issued.token).await,
        Err(Error::Revoked | Error::NotPresent)
    ));

    // Sign-in after the application's own check, then log out everywhere.
    let signed_in = auth.sign_in(ada.clone(), ExtraClaims::new()).await.unwrap();
    assert_eq!(
        auth.authenticate(&signed_in.token.token)
            .await
            .unwrap()
            .user,
        ada
    );
    assert_eq!(auth.log_out_everywhere(&ada).await.unwrap(), 1);
    assert!(auth.authenticate(&signed_in.token.token).await.is_err());
}
