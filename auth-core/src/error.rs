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
    /// The header's `kid` names no key of the key set (or the token has no
    /// `kid` and there is no legacy key for such tokens).
    #[error("token key `{0}` is not known")]
    UnknownKey(String),
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
    /// The token is bound to another tenant than the request's, or to none
    /// at a tenant-bound resource (or to one where there is no tenancy).
    #[error("the token is not valid for this tenant")]
    WrongTenant,
    #[error("token has been revoked")]
    Revoked,
    /// Allow-list mode: no stored, unexpired row for the token with its purpose.
    #[error("token is not present in the token store")]
    NotPresent,
    /// The token belongs to a session that has ended (signed out, ended
    /// from the device list, log out everywhere, password change, refresh
    /// token reuse) or expired.
    #[error("the token's session has ended")]
    SessionEnded,
    /// A refresh token was presented again after its reuse grace: the
    /// session it belongs to has been ended.
    #[error("refresh token reused; its session has been ended")]
    RefreshTokenReused,
    /// No live session with this id belongs to this user.
    #[error("no such session")]
    SessionNotFound,
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
    /// Not an API key of this application: not four parts of the right
    /// lengths and alphabet, a checksum that does not match, an unknown
    /// id, a wrong secret, an expired or revoked key.
    #[error("API key is invalid")]
    InvalidApiKey,
    /// Revoking an API key that is not a live key of the user.
    #[error("no such API key")]
    ApiKeyNotFound,
    /// The API key lacks a scope the route requires (named).
    #[error("the API key lacks the scope `{0}`")]
    InsufficientScope(String),
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
    /// The user's password has changed since the token was issued (its
    /// `cred` claim no longer matches the stored hash).
    #[error("the password has changed since this token was issued")]
    CredentialChanged,
    /// Password sign-in of an account whose address was never confirmed
    /// (the confirmation add-on's `require_confirmed`). Only said after the
    /// password was verified, so it tells nothing to whoever lacks it.
    #[error("the account's address is not confirmed yet")]
    NotConfirmed,
    /// A change of a monitored field (the email) needs the current password
    /// or a recent sign-in, and neither was given (or the password is wrong).
    #[error("this change needs the current password or a recent sign-in")]
    ReauthenticationRequired,
    /// Too many failed sign-ins came from this client address (the
    /// `brute_force` add-on): refused until `retry_after` has passed (429
    /// with `Retry-After`).
    #[error("too many failed attempts; retry after {} s", retry_after.as_secs())]
    TooManyAttempts {
        /// How long until the address may try again.
        retry_after: std::time::Duration,
    },
    /// Too many confirmations of changes wait for this user: confirm one,
    /// or wait until they expire.
    #[error("too many pending changes: {0}")]
    TooManyPending(&'static str),
    /// The server is at capacity for this operation (e.g. every password
    /// hashing permit stayed busy past the bounded wait): try again later.
    #[error("unavailable: {0}")]
    Unavailable(&'static str),
    /// The storage backend failed; token checks fail closed on it.
    #[error("storage error: {0}")]
    Store(StoreError),
    /// The configuration cannot work (missing secret, bad key, bad lifetime...).
    #[error("configuration error: {0}")]
    Config(String),
    /// Signing a token failed.
    #[error("could not sign token: {0}")]
    Signing(String),
}

/// Logs a store failure of `action` with its causes and converts it: a
/// value the store cannot hold is the caller's input ([`Error::InvalidInput`],
/// logged at debug), anything else an outage ([`Error::Store`], at error).
pub(crate) fn store_failure(action: &'static str, e: StoreError) -> Error {
    if e.is_invalid_input() {
        tracing::debug!(action, error = %e, "store refused the input");
    } else {
        tracing::error!(action, error = %e, "store failed");
    }
    Error::from(e)
}

impl From<StoreError> for Error {
    /// A store refusing a value it cannot hold is the caller's input
    /// problem ([`Error::InvalidInput`]); every other store error is
    /// [`Error::Store`].
    fn from(e: StoreError) -> Self {
        if e.invalid_input {
            Error::InvalidInput(e.message)
        } else {
            Error::Store(e)
        }
    }
}

/// A failure inside a storage backend.
///
/// Stores wrap their own errors in it; auth-core treats any of them as
/// "cannot decide", which fails closed wherever a token is being checked.
/// Its `Display` includes the whole chain of causes, so a log line of it
/// says why.
#[derive(Debug)]
pub struct StoreError {
    message: String,
    invalid_input: bool,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl StoreError {
    /// A store error with a message only.
    pub fn msg(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            invalid_input: false,
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
            invalid_input: false,
            source: Some(Box::new(source)),
        }
    }

    /// A value the store cannot hold (a NUL byte in PostgreSQL text, say):
    /// the input's fault, not the store's, so it becomes
    /// [`Error::InvalidInput`] (422), not an outage (503).
    pub fn invalid_input(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self {
            invalid_input: true,
            ..Self::new(message, source)
        }
    }

    /// Whether the store refused a value it cannot hold.
    pub fn is_invalid_input(&self) -> bool {
        self.invalid_input
    }
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)?;
        let mut cause = self.source.as_deref().map(|e| e as &dyn std::error::Error);
        while let Some(e) = cause {
            write!(f, ": {e}")?;
            cause = e.source();
        }
        Ok(())
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// Makes attacker-supplied text safe for an error message and a log line:
/// cut to 64 characters, control characters (newlines included) and
/// backslashes escaped, so it cannot forge a second log line.
pub(crate) fn truncated(s: &str) -> String {
    truncated_to(s, 64)
}

/// [`truncated`] to `max` characters.
pub(crate) fn truncated_to(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max * 2));
    for (n, c) in s.chars().enumerate() {
        if n == max {
            out.push('…');
            break;
        }
        if c.is_control() || c == '\\' {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Finding 11: store errors were logged as "postgres: insert user",
    /// without the cause. Their `Display` now carries the whole chain.
    #[test]
    fn f11_store_errors_display_their_causes() {
        let io = std::io::Error::other("connection reset by peer");
        let e = StoreError::new("postgres: insert user", io);
        assert_eq!(
            e.to_string(),
            "postgres: insert user: connection reset by peer"
        );
        assert!(!e.is_invalid_input());
        assert!(matches!(Error::from(e), Error::Store(_)));
        let nul = StoreError::invalid_input("a NUL byte", std::io::Error::other("22021"));
        assert!(matches!(Error::from(nul), Error::InvalidInput(m) if m == "a NUL byte"));
    }

    #[test]
    fn f13_untrusted_text_is_cut_and_escaped() {
        assert_eq!(truncated("HS256\nERROR forged"), "HS256\\nERROR forged");
        assert_eq!(truncated("a\\b\u{1b}"), "a\\\\b\\u{1b}");
        assert_eq!(truncated(&"x".repeat(100)).chars().count(), 65);
    }
}
