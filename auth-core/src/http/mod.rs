//! HTTP helpers, framework-agnostic: bearer parsing, status codes and public
//! error codes that never say which check failed. The `axum` feature adds a
//! tower layer and extractors on top (`auth_core::http::axum`).

#[cfg(feature = "axum")]
pub mod axum;
#[cfg(feature = "sessions")]
pub mod sessions;

use crate::api_key::looks_like_api_key;
use crate::api_keys::AuthenticatedKey;
use crate::auth::{Auth, AuthenticatedUser};
use crate::error::{Error, Result};
use crate::session::ClientInfo;
use crate::store::{ApiKeyStore, TokenStore, UserStore};
use crate::user::UserResource;

/// The `Cache-Control` of a JWKS response: verifiers may keep the key set
/// five minutes. A key must be listed (as a
/// verification key) at least that long before it becomes the active key,
/// or a verifier holding the old set refuses its first tokens; the key
/// rotation docs in the README follow that order.
pub const JWKS_CACHE_CONTROL: &str = "public, max-age=300";

/// The token of an `Authorization: Bearer <token>` header value (the scheme
/// is case-insensitive).
pub fn bearer_token(header: &str) -> Result<&str> {
    let (scheme, token) = header
        .trim()
        .split_once(' ')
        .ok_or(Error::MalformedToken("expected `Bearer <token>`"))?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(Error::MalformedToken("expected `Bearer <token>`"));
    }
    Ok(token.trim())
}

/// The client of a request, from its `User-Agent` header value and peer
/// address, for the session row a sign-in opens (any framework: pass what
/// it gives you; with axum, [`ClientInfo`] is an extractor).
pub fn client_info(user_agent: Option<&str>, peer: Option<std::net::IpAddr>) -> ClientInfo {
    ClientInfo::new(user_agent, peer)
}

/// What an error means to an HTTP client: the one place every variant is
/// classified (exhaustive, no `_`: a new variant must be placed here).
#[derive(Clone, Copy)]
enum Class {
    Unauthorized,
    AuthenticationFailed,
    IdentityTaken,
    NotFound,
    ConfirmationMismatch,
    InvalidInput,
    NotConfirmed,
    Reauthenticate,
    InsufficientScope,
    TooMany,
    Throttled,
    Unavailable,
    Internal,
}

fn class(error: &Error) -> Class {
    match error {
        Error::AuthenticationFailed => Class::AuthenticationFailed,
        Error::IdentityTaken => Class::IdentityTaken,
        Error::SessionNotFound | Error::ApiKeyNotFound => Class::NotFound,
        Error::PasswordConfirmationMismatch => Class::ConfirmationMismatch,
        Error::InvalidInput(_) => Class::InvalidInput,
        Error::InsufficientScope(_) => Class::InsufficientScope,
        Error::NotConfirmed => Class::NotConfirmed,
        Error::ReauthenticationRequired => Class::Reauthenticate,
        Error::TooManyPending(_) => Class::TooMany,
        Error::TooManyAttempts { .. } => Class::Throttled,
        Error::Store(_) | Error::Unavailable(_) => Class::Unavailable,
        Error::Config(_) | Error::Signing(_) | Error::NotConfigured(_) => Class::Internal,
        Error::MalformedToken(_)
        | Error::AlgorithmMismatch { .. }
        | Error::UnknownKey(_)
        | Error::InvalidSignature
        | Error::Expired
        | Error::NotYetValid
        | Error::InvalidIssuer
        | Error::InvalidAudience
        | Error::InvalidClaim(_)
        | Error::WrongSubject { .. }
        | Error::InvalidSubject(_)
        | Error::Revoked
        | Error::WrongTenant
        | Error::NotPresent
        | Error::SessionEnded
        | Error::RefreshTokenReused
        | Error::WrongPurpose { .. }
        | Error::AlreadyRevoked
        | Error::InvalidApiKey
        | Error::UserNotFound
        | Error::CredentialChanged => Class::Unauthorized,
    }
}

/// The HTTP status an error maps to: 401 for every token and sign-in
/// failure, 403 for a right password on an unconfirmed account, a change
/// that needs the password again or an API key without the route's scope,
/// 409 for a taken identity, 404 for an unknown session, 422 for invalid input, 429 for too many pending
/// changes or too many failed sign-ins from one address, 503 when the store is down or the server is at capacity
/// ([`Error::Unavailable`]: the password hashing limit), 500 for
/// configuration faults.
pub fn status_code(error: &Error) -> u16 {
    match class(error) {
        Class::Unauthorized | Class::AuthenticationFailed => 401,
        Class::IdentityTaken => 409,
        Class::NotFound => 404,
        Class::ConfirmationMismatch | Class::InvalidInput => 422,
        Class::NotConfirmed | Class::Reauthenticate | Class::InsufficientScope => 403,
        Class::TooMany | Class::Throttled => 429,
        Class::Unavailable => 503,
        Class::Internal => 500,
    }
}

/// How long a refused client should wait before trying again, for a
/// `Retry-After` header: set for [`Error::TooManyAttempts`] (whole
/// seconds, at least one), `None` otherwise.
pub fn retry_after(error: &Error) -> Option<std::time::Duration> {
    match error {
        Error::TooManyAttempts { retry_after } => Some(*retry_after),
        _ => None,
    }
}

/// A stable, public error code for a response body. Token failures are all
/// `unauthorized` and sign-in failures `authentication_failed`: clients are
/// not told which check refused them (logs are).
pub fn public_code(error: &Error) -> &'static str {
    match class(error) {
        Class::Unauthorized => "unauthorized",
        Class::AuthenticationFailed => "authentication_failed",
        Class::IdentityTaken => "identity_taken",
        Class::NotFound => "not_found",
        Class::ConfirmationMismatch => "password_confirmation_mismatch",
        Class::InvalidInput => "invalid_input",
        Class::NotConfirmed => "not_confirmed",
        Class::Reauthenticate => "reauthentication_required",
        Class::InsufficientScope => "insufficient_scope",
        Class::TooMany => "too_many_pending",
        Class::Throttled => "too_many_attempts",
        Class::Unavailable => "unavailable",
        Class::Internal => "internal_error",
    }
}

impl<U: UserResource, S: TokenStore> Auth<U, S> {
    /// Signs out with an `Authorization` header value (Ash's
    /// `revoke_bearer_tokens`): the signature and expiry are checked first,
    /// an already revoked token is fine.
    pub async fn revoke_bearer(&self, header: &str) -> Result<()> {
        self.revoke(bearer_token(header)?).await
    }
}

impl<U: UserResource, S: TokenStore + UserStore<U>> Auth<U, S> {
    /// Authenticates an `Authorization` header value (`Bearer <token>`):
    /// every check of [`Auth::authenticate`] (Ash's `retrieve_from_bearer`).
    pub async fn authenticate_bearer(&self, header: &str) -> Result<AuthenticatedUser<U>> {
        self.authenticate(bearer_token(header)?).await
    }
}

/// What authenticated a request: its user, and the API key when it was one.
#[derive(Clone, Debug)]
pub struct RequestCredential<U> {
    /// The user (for a key: claims that describe the key).
    pub user: AuthenticatedUser<U>,
    /// The key, when the request presented one.
    pub key: Option<AuthenticatedKey<U>>,
}

/// The header an API key may come in instead of `Authorization: Bearer`.
pub const API_KEY_HEADER: &str = "x-api-key";

impl<U: UserResource, S: ApiKeyStore + UserStore<U> + Clone + 'static> Auth<U, S> {
    /// Authenticates a request's credential headers: an API key in
    /// `X-Api-Key` (`x_api_key`), else `Authorization` (`authorization`):
    /// `Bearer <token>`, or `Bearer <API key>` when the resource has the
    /// API-key strategy (a key has no `.`; a JWT has two). `Ok(None)` when
    /// neither header is there.
    pub async fn authenticate_headers(
        &self,
        authorization: Option<&str>,
        x_api_key: Option<&str>,
    ) -> Result<Option<RequestCredential<U>>> {
        self.authenticate_headers_in(authorization, x_api_key, None)
            .await
    }

    /// [`Auth::authenticate_headers`] in the request's `tenant`
    /// ([`Auth::authenticate_in`]; an API key's user must belong to the
    /// tenant).
    pub async fn authenticate_headers_in(
        &self,
        authorization: Option<&str>,
        x_api_key: Option<&str>,
        tenant: Option<&crate::tenant::Tenant>,
    ) -> Result<Option<RequestCredential<U>>> {
        self.credential(authorization, x_api_key, tenant, |key| {
            self.authenticate_api_key(key)
        })
        .await
    }

    /// The credential of a request's headers, an API key checked by `key`.
    async fn credential<'a, F>(
        &'a self,
        authorization: Option<&'a str>,
        x_api_key: Option<&'a str>,
        tenant: Option<&crate::tenant::Tenant>,
        check_key: impl FnOnce(&'a str) -> F,
    ) -> Result<Option<RequestCredential<U>>>
    where
        F: std::future::Future<Output = Result<AuthenticatedKey<U>>>,
    {
        let key = match (x_api_key, authorization) {
            (Some(key), _) => key.trim(),
            (None, Some(header)) => {
                let presented = bearer_token(header)?;
                if self.settings().api_key.is_none() || !looks_like_api_key(presented) {
                    let user = self.authenticate_in(presented, tenant).await?;
                    return Ok(Some(RequestCredential { user, key: None }));
                }
                presented
            }
            (None, None) => return Ok(None),
        };
        let expected = self.request_tenant(tenant)?;
        let found = check_key(key).await?;
        // A key acts as its user, in the user's tenant only.
        crate::tenant::same(expected, found.user.tenant().as_deref())?;
        let tokens = &self.settings().tokens;
        Ok(Some(RequestCredential {
            user: found.as_user(&tokens.issuer, &tokens.audience),
            key: Some(found),
        }))
    }
}

impl<U, S> Auth<U, S>
where
    U: UserResource,
    S: ApiKeyStore + UserStore<U> + crate::store::AttemptStore + Clone + 'static,
{
    /// [`Auth::authenticate_headers_in`] from the client at `ip`: with the
    /// brute-force add-on, a refused API key counts against the address
    /// (as a refused sign-in token does), and a throttled address has no
    /// key checked ([`Error::TooManyAttempts`], 429 with `Retry-After`).
    /// [`AuthLayer`](crate::http::axum::AuthLayer) authenticates this way.
    pub async fn authenticate_headers_from(
        &self,
        authorization: Option<&str>,
        x_api_key: Option<&str>,
        tenant: Option<&crate::tenant::Tenant>,
        ip: Option<std::net::IpAddr>,
    ) -> Result<Option<RequestCredential<U>>> {
        self.credential(authorization, x_api_key, tenant, |key| {
            self.address_guarded(ip, self.authenticate_api_key(key))
        })
        .await
    }
}

#[cfg(test)]
mod tests {

    use super::*;

    #[test]
    fn statuses_and_codes_reveal_no_check() {
        for e in [
            Error::Expired,
            Error::Revoked,
            Error::InvalidSignature,
            Error::NotPresent,
        ] {
            assert_eq!((status_code(&e), public_code(&e)), (401, "unauthorized"));
        }
        assert_eq!(status_code(&Error::IdentityTaken), 409);
        assert_eq!(status_code(&Error::InvalidInput("x".into())), 422);
        assert_eq!(
            public_code(&Error::AuthenticationFailed),
            "authentication_failed"
        );
    }
}
