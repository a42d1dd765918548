//! Declarative, token-based authentication for Rust web applications.
//!
//! Declare a token resource and a user resource; the macros check the
//! configuration at compile time and generate the actions; [`Auth`] runs
//! them against a store ([`MemoryStore`] here, `PgStore` in `auth-postgres`).
//!
//! ```
//! use auth_core::{Auth, Authenticated, Error, ExtraClaims, MemoryStore,
//!                 Purpose, UserStore, token_resource};
//! use serde::{Deserialize, Serialize};
//! use uuid::Uuid;
//!
#![doc = include_str!("../docs/full_dsl.rs")]
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # unsafe { std::env::set_var("TOKEN_SIGNING_SECRET", "a long random secret, at least 32 bytes") };
//! // The secret is read here: a missing one is an error now, not at the first request.
//! let auth = Auth::<User, _>::new(MemoryStore::new())?;
//!
//! let ada = User { id: Uuid::new_v4(), email: "ada@example.com".into(),
//!                  hashed_password: String::new(), role: "admin".into() };
//! auth.store().insert_user(&ada).await?;
//!
//! let issued = auth.token_for_user(&ada, ExtraClaims::new()).await?;
//! let me = auth.authenticate_bearer(&format!("Bearer {}", issued.token)).await?;
//! assert_eq!(me.user.email, "ada@example.com");
//! assert_eq!(me.claims.extra["role"], "admin");          // from `extra_claims`
//!
//! // The generated token actions are associated functions of `Token`.
//! let row = Token::get_token(auth.store(), &issued.claims.jti, Some(&Purpose::USER)).await?;
//! assert!(row.is_some());                                  // `store_all_tokens`
//!
//! auth.revoke(&issued.token).await?;                       // sign out
//! assert!(matches!(auth.authenticate(&issued.token).await, Err(Error::Revoked)));
//! # Ok(()) }
//! ```
//!
//! # Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `macros` | yes | `#[derive(Authenticated)]` and `#[token_resource]` (from `auth-macros`) |
//! | `axum` | no | `http::axum`: the layer and extractors: `AuthLayer`, `CurrentUser`, `BearerToken`, the JWKS route |
//! | `sessions` | no | browser sessions on tower-sessions (implies `axum`): cookie sign-in, remember-me, the session store over the token table |
//! | `cache` | no | the revocation and user cache, `AuthCache` |
//!
//! The stores are crates of their own: [`MemoryStore`] is here (tests,
//! demos), `auth-sqlite` (one file, one node) and `auth-postgres` (several
//! nodes; its `cache` feature adds the cross-node invalidation listener).

mod api_key;
mod api_keys;
mod audit;
mod auth;
mod browser;
#[cfg(feature = "cache")]
mod cache;
mod claims;
mod column;
mod config;
mod error;
mod events;
mod expunger;
pub mod http;
mod jwt;
mod keys;
mod lockout;
mod memory;
mod password;
mod secret;
mod sender;
mod session;
mod special;
mod store;
mod subject;
mod tenant;
mod tenants;
mod token;
mod user;
mod user_actions;
mod verify;

/// The smallest user resource, for this crate's unit tests.
#[cfg(test)]
pub(crate) mod test_user {
    #[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
    pub(crate) struct User {
        pub(crate) id: i64,
    }

    impl crate::UserResource for User {
        type PrimaryKey = i64;
        const SUBJECT_NAME: &'static str = "user";
        const PRIMARY_KEY_FIELD: &'static str = "id";
        fn primary_key(&self) -> i64 {
            self.id
        }
    }
}

/// The token resource's actions over any [`TokenStore`]: what
/// `#[token_resource]` generates calls into, usable directly.
pub mod token_actions {
    pub use crate::token::{
        expunge_expired, get_confirmation_changes, get_token, is_revoked, read_expired,
        revoke_all_stored_for_subject, revoke_jti, revoke_token, store_confirmation_changes,
        store_token,
    };
}

#[doc(hidden)]
pub mod __private;

#[cfg(feature = "macros")]
#[doc = include_str!("../docs/authenticated.md")]
pub use auth_macros::Authenticated;
#[cfg(feature = "macros")]
#[doc = include_str!("../docs/token_resource.md")]
pub use auth_macros::token_resource;

pub use api_key::{
    ApiKeyConfig, ApiKeyInfo, ApiKeyRow, CreatedApiKey, NewApiKey, PresentedKey, looks_like_api_key,
};
pub use api_keys::{API_KEY_PURPOSE, API_KEY_USE_FLUSH, AuthenticatedKey};
pub use audit::{
    AuditConfig, AuditEvent, AuditSink, EVENT_FLUSH, EventKind, IpMode, MAX_LISTED_EVENTS,
    MAX_QUEUED_EVENTS, Outcome, TracingSink,
};
pub use auth::{Auth, AuthenticatedUser, IssuedToken};
pub use browser::{Remembered, SessionState};
#[cfg(feature = "cache")]
pub use cache::{AuthCache, CacheConfig, CacheStats};
pub use claims::{Claims, ClaimsContext, ExtraClaims, REGISTERED_CLAIMS, merge_extra_claims};
pub use column::{Column, ColumnType, FieldKind};
pub use config::{
    Algorithm, BruteForceConfig, ConfirmationConfig, DEFAULT_TOKEN_TABLE, Lifetime, LifetimeError,
    LogOutEverywhereConfig, MagicLinkConfig, PasswordConfig, Purpose, PurposeFilter, RefreshConfig,
    RememberMeConfig, ResetConfig, SessionIdentifier, SessionsConfig, TokenConfig,
    TokenResourceConfig, application_name,
};
pub use error::{Error, Result, StoreError};
pub use expunger::{
    ExpungerHandle, MIN_EXPUNGE_INTERVAL, expunge_dead_api_keys, expunge_expired_attempts,
    spawn_expunger, spawn_expunger_every,
};
pub use jsonwebtoken::jwk::{Jwk, JwkSet};
pub use jwt::{Jwt, MAX_TOKEN_LEN, new_jti, peek_claims};
pub use keys::{KeySet, MAX_KID_LEN, SigningKey};
pub use memory::MemoryStore;
pub use password::{
    HashCost, HashLimits, HashedPassword, MAX_PASSWORD_LEN, MIN_PASSWORD_LEN, PasswordHasher,
};
pub use secret::{Secret, SigningSecret};
pub use sender::{Message, SendFuture, Sender, SenderHandle};
pub use session::{
    ClientInfo, MAX_USER_AGENT_LEN, Refreshed, Session, SessionKind, SignInContext, SignedIn,
};
pub use special::{MAX_PENDING, REQUEST_QUEUE, Reauthentication};
pub use store::{
    ApiKeyStore, AttemptStore, AuditStore, ExpungedBatch, Failure, InsertUserError, NewTokenRow,
    PasswordChange, PasswordStore, PerTable, Redeem, RefreshStore, RevokeAll, Rotated, Rotation,
    Rows, SUCCESSOR, SessionFacts, Sessions, SignInRows, SingleUseStore, TokenRow, TokenRowFacts,
    TokenStore, UserStore,
};
pub use subject::{Subject, SubjectKey};
pub use tenant::{
    DEFAULT_TENANT_HEADER, MAX_TENANT_LEN, TenancyConfig, TenancyStrategy, Tenant, TenantSource,
};
pub use token::{REVOCATION_SKEW_MARGIN, TokenFacts, TokenResource};
pub use user::{
    Authenticated, ExtraClaimsFn, MAX_IDENTITY_LEN, NewPrimaryKey, PasswordUser, Settings,
    UserColumn, UserResource, normalize_identity,
};
pub use user_actions::TokenType;

#[doc = include_str!("../docs/without_the_derive.md")]
pub mod without_the_derive {}

// The README's examples use every feature (`cargo test --workspace` turns
// them all on).
#[cfg(all(doctest, feature = "sessions", feature = "cache"))]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
