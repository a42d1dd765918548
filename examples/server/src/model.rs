//! The demo's user and token resources: the documented example user, with sessions and refresh tokens.

use auth_core::{Authenticated, ClaimsContext, ExtraClaims, HashedPassword, token_resource};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[token_resource]
pub struct Token;

/// `extra_claims`: the user's role travels in every token.
pub fn role_claims(user: &User, _: &ClaimsContext) -> ExtraClaims {
    let mut claims = ExtraClaims::new();
    claims.insert("role".into(), user.role.clone().into());
    claims
}

#[derive(Authenticated, Clone, Debug, Serialize, Deserialize)]
#[authentication(
    subject_name = "user",
    tokens(
        token_resource = Token,
        signing_secret(env = "TOKEN_SIGNING_SECRET"),
        token_lifetime = "15m",
        store_all_tokens,
        require_token_presence_for_authentication,
        extra_claims = crate::model::role_claims,
        refresh_tokens(lifetime = "7d", reuse_grace = "30s"),
    ),
    strategies(
        password(
            identity_field = "email",
            hashed_password_field = "hashed_password",
            resettable(token_lifetime = "1h"),
        ),
        remember_me(cookie_name = "remember_me", token_lifetime = "30d"),
        magic_link(token_lifetime = "10m"),
        api_key(prefix = "demo", scopes = ["reports:read", "reports:write"], max_per_user = 20),
    ),
    add_ons(
        confirmation(
            monitor_fields = ["email"],
            confirm_on_create = true,
            confirm_on_update = true,
            // The demo's walkthrough signs in before reading the outbox; a
            // product keeps the default (on). Registering someone else's
            // address still gains nothing: its owner's first confirmation
            // or magic link clears that password and ends its sessions.
            require_confirmed = false,
            token_lifetime = "3d",
        ),
        sessions(lifetime = "30d"),
        log_out_everywhere(apply_on_password_change),
        // 5 failures lock an identity, 50 throttle an address, for 15 min.
        brute_force(),
        // Security events, kept 90 days, addresses as their /24 (or /48).
        audit_log(ip = truncate),
    ),
)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    /// Redacted in `Debug`, so logging a user never prints the hash.
    pub hashed_password: HashedPassword,
    pub role: String,
    /// When the email address was confirmed (the confirmation add-on).
    pub confirmed_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// A member of the demo's tenants (`/t/...`): context tenancy, so one
/// member signs in to several tenants (named by the `X-Tenant` header),
/// each sign-in bound to one. The demo treats every tenant as open (any
/// member may sign in to any); a product checks its membership table
/// before signing in.
#[derive(Authenticated, Clone, Debug, Serialize, Deserialize)]
#[authentication(
    subject_name = "member",
    tokens(
        token_resource = Token,
        signing_secret(env = "TOKEN_SIGNING_SECRET"),
        token_lifetime = "15m",
        store_all_tokens,
        require_token_presence_for_authentication,
        refresh_tokens(lifetime = "7d"),
    ),
    strategies(password()),
    add_ons(sessions(lifetime = "30d")),
    tenancy(strategy = context),
)]
pub struct Member {
    pub id: Uuid,
    pub email: String,
    pub hashed_password: HashedPassword,
}

/// A user as responses show it: never the password hash.
#[derive(Debug, Serialize)]
pub struct PublicUser {
    pub id: Uuid,
    pub email: String,
    pub role: String,
    pub confirmed_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<&User> for PublicUser {
    fn from(u: &User) -> Self {
        Self {
            id: u.id,
            email: u.email.clone(),
            role: u.role.clone(),
            confirmed_at: u.confirmed_at,
        }
    }
}

/// What the demo needs of a store: tokens, API keys, and users with
/// passwords.
/// Memory, PostgreSQL and SQLite all are.
pub trait Store:
    auth_core::RefreshStore
    + auth_core::SingleUseStore
    + auth_core::ApiKeyStore
    + auth_core::AuditStore
    + auth_core::PasswordStore<User>
    + auth_core::PasswordStore<Member>
    + Clone
    + 'static
{
}

impl<S> Store for S where
    S: auth_core::RefreshStore
        + auth_core::SingleUseStore
        + auth_core::ApiKeyStore
        + auth_core::AuditStore
        + auth_core::PasswordStore<User>
        + auth_core::PasswordStore<Member>
        + Clone
        + 'static
{
}
