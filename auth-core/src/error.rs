//! The one error type of the runtime; each variant names the check that failed.

use crate::config::Algorithm;

/// A `Result` whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in auth-core.
///
/// Token verification fails with exactly one variant per check of the
/// verification order (algorithm, signature, expiry, not-before, issuer,
/// audience, subject, revocation, presence, purpose), so callers and logs can
/// tell which check refused a token. HTTP responses should not repeat these
/// details to clients.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The token is not a compact JWT we can read (segments, base64, JSON, size).
    #[error("token is malformed: {0}")]
    MalformedToken(&'static str),
    /// The header's `alg` is not the configured algorithm (this includes `none`).
    #[error("token algorithm `{found}` is not the configured `{expected}`")]
    AlgorithmMismatch {
        /// The algorithm this resource signs with.
        expected: Algorithm,
        /// What the token's header claimed (truncated).
        found: String,
    },
    /// The signature does not match the header and payload.
    #[error("token signature is invalid")]
    InvalidSignature,
    /// `exp` is in the past (beyond the leeway).
    #[error("token has expired")]
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    #[error("token is not valid yet")]
    NotYetValid,
    /// `iss` is not the configured issuer.
    #[error("token issuer is not accepted")]
    InvalidIssuer,
    /// `aud` does not contain the configured audience.
    #[error("token audience is not accepted")]
    InvalidAudience,
    /// A registered claim is missing or has the wrong JSON type.
    #[error("token claim `{0}` is missing or has the wrong type")]
    InvalidClaim(&'static str),
    /// `sub` names another kind of subject (another user resource).
    #[error("token subject is for `{found}`, expected `{expected}`")]
    WrongSubject {
        /// This resource's subject name.
        expected: String,
        /// The subject name in the token (truncated).
        found: String,
    },
    /// A subject string that does not parse, or whose key does not parse.
    #[error("subject is malformed: {0}")]
    InvalidSubject(String),
    /// A revocation row exists for the token's `jti`.
    #[error("token has been revoked")]
    Revoked,
    /// Allow-list mode: no stored, unexpired row for the token with its purpose.
    #[error("token is not present in the token store")]
    NotPresent,
    /// The token's purpose is not the one this operation accepts.
    #[error("token purpose is `{found}`, expected `{expected}`")]
    WrongPurpose {
        /// The purpose this operation accepts.
        expected: String,
        /// The token's purpose (truncated).
        found: String,
    },
    /// `revoke_token`/`revoke_jti` found the token already revoked.
    #[error("token has already been revoked")]
    AlreadyRevoked,
    /// Password sign-in failed: unknown identity or wrong password (deliberately
    /// the same error, and the same time, for both).
    #[error("authentication failed")]
    AuthenticationFailed,
    /// Registration: another user has this identity.
    #[error("identity is already taken")]
    IdentityTaken,
    /// `password_confirmation` does not match `password`.
    #[error("password confirmation does not match the password")]
    PasswordConfirmationMismatch,
    /// Input that cannot be accepted (too-short password, empty identity...).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The operation needs a strategy or option this resource does not configure.
    #[error("not configured: {0}")]
    NotConfigured(&'static str),
    /// The subject of a valid token names no user.
    #[error("no user matches the token's subject")]
    UserNotFound,
    /// The storage backend failed; token checks fail closed on it.
    #[error("storage error: {0}")]
    Store(#[from] StoreError),
    /// The configuration cannot work (missing secret, bad key, bad lifetime...).
    #[error("configuration error: {0}")]
    Config(String),
    /// Signing a token failed.
    #[error("could not sign token: {0}")]
    Signing(String),
}

/// A failure inside a storage backend.
///
/// Stores wrap their own errors in it; auth-core treats any of them as
/// "cannot decide", which fails closed wherever a token is being checked.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct StoreError {
    message: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl StoreError {
    /// A store error with a message only.
    pub fn msg(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            source: None,
        }
    }

    /// A store error wrapping the backend's own error.
    pub fn new(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self {
            message: message.into(),
            source: Some(Box::new(source)),
        }
    }
}

/// Cuts attacker-supplied text before it goes into an error message.
pub(crate) fn truncated(s: &str) -> String {
    const MAX: usize = 64;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}
