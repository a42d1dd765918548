//! Declarative, token-based authentication for Rust web applications.
//!
//! Annotate a user struct and a token struct; the runtime in this crate
//! issues, verifies, stores and revokes JWTs against a storage backend
//! ([`MemoryStore`] here, `PgStore` in `auth-postgres`).
//!
//! ```
//! use auth_core::{Auth, MemoryStore, Purpose, Settings, TokenConfig, TokenResourceConfig,
//!                 SigningSecret, Secret, UserResource, UserStore};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Clone, Debug, Serialize, Deserialize)]
//! struct User { id: i64, email: String }
//!
//! impl UserResource for User {
//!     type PrimaryKey = i64;
//!     const SUBJECT_NAME: &'static str = "user";
//!     const PRIMARY_KEY_FIELD: &'static str = "id";
//!     fn primary_key(&self) -> i64 { self.id }
//!     fn identity(&self) -> Option<&str> { Some(&self.email) }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut tokens = TokenConfig::new(SigningSecret::Literal(Secret::from("a long random secret")));
//! tokens.store_all_tokens = true;
//! tokens.require_token_presence_for_authentication = true;
//! let auth = Auth::from_settings(Settings::new(tokens, TokenResourceConfig::default()), MemoryStore::new())?;
//!
//! let user = User { id: 7, email: "ada@example.com".into() };
//! auth.store().insert_user(&user).await?;
//!
//! let issued = auth.token_for_user(&user, Default::default()).await?;
//! let me = auth.authenticate_bearer(&format!("Bearer {}", issued.token)).await?;
//! assert_eq!(me.user.id, 7);
//! assert_eq!(me.claims.purpose, Purpose::USER.as_str());
//!
//! auth.revoke(&issued.token).await?;                       // sign out
//! assert!(auth.authenticate(&issued.token).await.is_err()); // revoked
//! # Ok(()) }
//! ```

mod auth;
mod claims;
mod config;
mod error;
mod expunger;
mod jwt;
mod memory;
mod secret;
mod store;
mod subject;
pub mod token;
mod user;

#[doc(hidden)]
pub mod __private;

#[cfg(feature = "macros")]
pub use auth_macros::{Authenticated, token_resource};

pub use auth::{Auth, AuthenticatedUser, IssuedToken, bearer_token};
pub use claims::{Claims, ClaimsContext, ExtraClaims, REGISTERED_CLAIMS, merge_extra_claims};
pub use config::{
    Algorithm, DEFAULT_AUDIENCE, DEFAULT_ISSUER, Lifetime, LifetimeError, LogOutEverywhereConfig,
    PasswordConfig, Purpose, PurposeFilter, SessionIdentifier, TokenConfig, TokenResourceConfig,
};
pub use error::{Error, Result, StoreError};
pub use expunger::{ExpungerHandle, spawn_expunger, spawn_expunger_every};
pub use jwt::{Jwt, MAX_TOKEN_LEN, new_jti, peek_claims};
pub use memory::MemoryStore;
pub use secret::{Secret, SigningSecret};
pub use store::{InsertUserError, NewTokenRow, REVOCATION, TokenRow, TokenStore, UserStore};
pub use subject::{Subject, SubjectKey};
pub use token::{TokenFacts, TokenResource};
pub use user::{Authenticated, ExtraClaimsFn, Settings, UserResource};

#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
