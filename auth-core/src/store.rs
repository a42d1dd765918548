//! The storage traits: token rows and user rows. Stores only store; the
//! semantics (what a revocation is, when a row counts) live in auth-core.

use std::future::Future;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::config::PurposeFilter;
use crate::error::StoreError;
use crate::user::UserResource;

/// One row of a token resource: facts about a token, never the token itself.
#[derive(Clone, Debug, PartialEq)]
pub struct TokenRow {
    /// The token's `jti` (primary key).
    pub jti: String,
    /// The token's `sub`.
    pub subject: String,
    /// When the row may be expunged (the token's own `exp`, for a revocation).
    pub expires_at: DateTime<Utc>,
    /// `user`, `sign_in`, `revocation`, or an add-on's name.
    pub purpose: String,
    /// Extra claims of a stored token, or pending changes of a confirmation.
    pub extra_data: Option<Value>,
    /// When the row was first written.
    pub created_at: DateTime<Utc>,
    /// When the row was last written.
    pub updated_at: DateTime<Utc>,
}

/// A row to write; the store sets the timestamps.
#[derive(Clone, Debug, PartialEq)]
pub struct NewTokenRow {
    /// The token's `jti`.
    pub jti: String,
    /// The token's `sub`.
    pub subject: String,
    /// When the row may be expunged.
    pub expires_at: DateTime<Utc>,
    /// The row's purpose.
    pub purpose: String,
    /// Optional JSON payload.
    pub extra_data: Option<Value>,
}

/// The purpose string that marks a revocation row.
pub const REVOCATION: &str = "revocation";

/// Storage of token rows, one namespace (`table`) per token resource.
///
/// Every method is one atomic operation: the conditional writes below must
/// not be split into a read and a write (for SQL: one statement), because
/// race-safe revocation and single-use sign-in tokens rest on them. Time is
/// passed in, so the whole framework runs on one clock.
pub trait TokenStore: Send + Sync {
    /// Inserts `row`, or overwrites the row with the same `jti` unless that
    /// row is a revocation. Returns `false` when a revocation row blocked it.
    fn upsert_token(
        &self,
        table: &str,
        row: &NewTokenRow,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Inserts a row for a `jti` just minted (so it cannot exist yet): a plain
    /// insert, cheaper than the upsert. A conflict is an error.
    fn insert_token(
        &self,
        table: &str,
        row: &NewTokenRow,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The row for `jti` whose `expires_at` is after `now`, and whose purpose
    /// is `purpose` when one is given.
    fn get_token(
        &self,
        table: &str,
        jti: &str,
        purpose: Option<&str>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<TokenRow>, StoreError>> + Send;

    /// Makes `jti` a revocation row (purpose [`REVOCATION`], `subject` and
    /// `expires_at` from `row`): inserts it, or flips an existing row of
    /// another purpose. Returns `false`, writing nothing, when it already is
    /// a revocation row. Of concurrent calls for one `jti`, exactly one
    /// returns `true`.
    fn insert_revocation(
        &self,
        table: &str,
        row: &NewTokenRow,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Whether a revocation row exists for `jti` (expired or not).
    fn is_revoked(
        &self,
        table: &str,
        jti: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Flips every row of `subject` whose purpose passes `filter` (and is not
    /// already a revocation) to a revocation row. Returns how many.
    fn revoke_all_for_subject(
        &self,
        table: &str,
        subject: &str,
        filter: &PurposeFilter,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Rows whose `expires_at` is before `now`, at most `limit`.
    fn read_expired(
        &self,
        table: &str,
        now: DateTime<Utc>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<TokenRow>, StoreError>> + Send;

    /// Deletes, in `expires_at` order, at most `limit` rows whose
    /// `expires_at` is before `now` and not before `from`; returns how many
    /// and the last `expires_at` deleted (the next batch's `from`, so a batch
    /// never rescans what earlier batches deleted). Never touches other rows.
    /// Several callers at once must not delete a row twice or wait on each
    /// other long.
    fn delete_expired(
        &self,
        table: &str,
        now: DateTime<Utc>,
        from: DateTime<Utc>,
        limit: usize,
    ) -> impl Future<Output = Result<ExpungedBatch, StoreError>> + Send;
}

/// What [`UserStore::get_presence_and_user`] finds for a present token.
#[derive(Clone, Debug)]
pub struct Presence<U> {
    /// The stored token's `extra_data` (its extra claims).
    pub extra_data: Option<Value>,
    /// The user the token's subject names, if it exists.
    pub user: Option<U>,
}

/// What one [`TokenStore::delete_expired`] call removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExpungedBatch {
    /// Rows deleted.
    pub deleted: u64,
    /// The latest `expires_at` among them.
    pub last_expires_at: Option<DateTime<Utc>>,
}

/// Why a user could not be inserted.
#[derive(Debug, thiserror::Error)]
pub enum InsertUserError {
    /// Another user already has this identity (or primary key).
    #[error("identity is already taken")]
    IdentityTaken,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Storage of users of one [`UserResource`].
pub trait UserStore<U: UserResource>: Send + Sync {
    /// The user with this primary key.
    fn get_user(
        &self,
        key: &U::PrimaryKey,
    ) -> impl Future<Output = Result<Option<U>, StoreError>> + Send;

    /// The user with this identity (the password strategy's identity field).
    fn get_user_by_identity(
        &self,
        identity: &str,
    ) -> impl Future<Output = Result<Option<U>, StoreError>> + Send;

    /// Inserts a new user; atomically refuses a taken identity or primary key.
    fn insert_user(&self, user: &U) -> impl Future<Output = Result<(), InsertUserError>> + Send;

    /// Replaces the stored user with the same primary key; `false` if none.
    fn update_user(&self, user: &U) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// The allow-list lookup of an authenticated request: `None` when there
    /// is no unexpired row for `jti` with `purpose`; else that row's
    /// `extra_data` and the user with `key`. A store that can answer in one
    /// round trip overrides this; the default asks twice.
    fn get_presence_and_user(
        &self,
        key: &U::PrimaryKey,
        table: &str,
        jti: &str,
        purpose: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<Presence<U>>, StoreError>> + Send
    where
        Self: TokenStore,
    {
        async move {
            let Some(row) = self.get_token(table, jti, Some(purpose), now).await? else {
                return Ok(None);
            };
            let user = self.get_user(key).await?;
            Ok(Some(Presence {
                extra_data: row.extra_data,
                user,
            }))
        }
    }
}
