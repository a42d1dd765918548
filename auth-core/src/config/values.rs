//! The value types of the DSL: algorithms, lifetimes (`"14d"`), purposes,
//! the session identifier and purpose filters.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::error::Error;

/// A JWT signing algorithm.
///
/// HMAC algorithms take a shared secret. The asymmetric ones take a PEM
/// bundle holding the private key and the public key (see
/// [`SigningSecret`](crate::SigningSecret)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[allow(clippy::upper_case_acronyms)]
pub enum Algorithm {
    /// HMAC with SHA-256 (the default).
    #[default]
    HS256,
    /// HMAC with SHA-384.
    HS384,
    /// HMAC with SHA-512.
    HS512,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256.
    PS256,
    /// RSASSA-PSS with SHA-384.
    PS384,
    /// RSASSA-PSS with SHA-512.
    PS512,
    /// ECDSA P-256 with SHA-256.
    ES256,
    /// ECDSA P-384 with SHA-384.
    ES384,
    /// Ed25519.
    EdDSA,
}

impl Algorithm {
    /// Every supported algorithm, in the order `signing_algorithm` lists them.
    pub const ALL: [Algorithm; 12] = [
        Self::HS256,
        Self::HS384,
        Self::HS512,
        Self::RS256,
        Self::RS384,
        Self::RS512,
        Self::PS256,
        Self::PS384,
        Self::PS512,
        Self::ES256,
        Self::ES384,
        Self::EdDSA,
    ];

    /// The name used in JWT headers and in the DSL.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::HS256 => "HS256",
            Self::HS384 => "HS384",
            Self::HS512 => "HS512",
            Self::RS256 => "RS256",
            Self::RS384 => "RS384",
            Self::RS512 => "RS512",
            Self::PS256 => "PS256",
            Self::PS384 => "PS384",
            Self::PS512 => "PS512",
            Self::ES256 => "ES256",
            Self::ES384 => "ES384",
            Self::EdDSA => "EdDSA",
        }
    }

    /// Whether the algorithm uses a shared secret (HMAC).
    pub const fn is_hmac(self) -> bool {
        matches!(self, Self::HS256 | Self::HS384 | Self::HS512)
    }

    /// Whether the algorithm is RSA (PKCS#1 v1.5 or PSS).
    pub const fn is_rsa(self) -> bool {
        matches!(
            self,
            Self::RS256 | Self::RS384 | Self::RS512 | Self::PS256 | Self::PS384 | Self::PS512
        )
    }

    /// For HMAC, the shortest secret accepted: the hash's length (RFC 7518
    /// section 3.2). `None` for the asymmetric algorithms.
    pub const fn min_hmac_secret_len(self) -> Option<usize> {
        match self {
            Self::HS256 => Some(32),
            Self::HS384 => Some(48),
            Self::HS512 => Some(64),
            _ => None,
        }
    }

    pub(crate) const fn to_jwt(self) -> jsonwebtoken::Algorithm {
        use jsonwebtoken::Algorithm as J;
        match self {
            Self::HS256 => J::HS256,
            Self::HS384 => J::HS384,
            Self::HS512 => J::HS512,
            Self::RS256 => J::RS256,
            Self::RS384 => J::RS384,
            Self::RS512 => J::RS512,
            Self::PS256 => J::PS256,
            Self::PS384 => J::PS384,
            Self::PS512 => J::PS512,
            Self::ES256 => J::ES256,
            Self::ES384 => J::ES384,
            Self::EdDSA => J::EdDSA,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Algorithm {
    type Err = Error;

    /// Exact, case-sensitive names: a JWT header saying `hs256` is not `HS256`.
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| Error::Config(format!("unknown signing algorithm `{s}`")))
    }
}

/// A span of time written with a unit: `"60s"`, `"15m"`, `"12h"`, `"14d"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Lifetime(Duration);

impl Lifetime {
    /// A lifetime of whole seconds.
    pub const fn from_secs(secs: u64) -> Self {
        Self(Duration::from_secs(secs))
    }

    /// Whole seconds.
    pub const fn as_secs(self) -> u64 {
        self.0.as_secs()
    }

    /// As a [`Duration`].
    pub const fn as_duration(self) -> Duration {
        self.0
    }

    /// Parses `<positive integer><unit>` with unit `s`, `m`, `h` or `d`.
    ///
    /// Zero is accepted here (a leeway may be zero); callers that need a
    /// positive lifetime check [`Lifetime::is_zero`].
    pub fn parse(s: &str) -> Result<Self, LifetimeError> {
        // The grammar the derive checks attributes with: one parser.
        auth_dsl::parse_lifetime_secs(s).map(Self::from_secs)
    }

    /// Whether this is zero seconds.
    pub const fn is_zero(self) -> bool {
        self.0.is_zero()
    }
}

impl FromStr for Lifetime {
    type Err = LifetimeError;
    fn from_str(s: &str) -> Result<Self, LifetimeError> {
        Self::parse(s)
    }
}

impl fmt::Display for Lifetime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.as_secs();
        match s {
            0 => f.write_str("0s"),
            s if s % 86_400 == 0 => write!(f, "{}d", s / 86_400),
            s if s % 3_600 == 0 => write!(f, "{}h", s / 3_600),
            s if s % 60 == 0 => write!(f, "{}m", s / 60),
            s => write!(f, "{s}s"),
        }
    }
}

/// Why a lifetime string does not parse.
pub use auth_dsl::LifetimeError;

/// The role of a token row and of a token's `purpose` claim.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Purpose(Cow<'static, str>);

impl Purpose {
    /// A normal sign-in token, the only purpose that authenticates requests.
    pub const USER: Purpose = Purpose(Cow::Borrowed("user"));
    /// A short-lived token exchanged once for a normal token.
    pub const SIGN_IN: Purpose = Purpose(Cow::Borrowed("sign_in"));
    /// A revocation row.
    pub const REVOCATION: Purpose = Purpose(Cow::Borrowed("revocation"));
    /// A session row: its `jti` is the session id (`sid`) its tokens carry.
    pub const SESSION: Purpose = Purpose(Cow::Borrowed("session"));
    /// A refresh token (always stored), unused.
    pub const REFRESH: Purpose = Purpose(Cow::Borrowed("refresh"));
    /// A refresh token already exchanged (`updated_at` is when).
    pub const REFRESH_USED: Purpose = Purpose(Cow::Borrowed("refresh_used"));
    /// A remember-me token (always stored): signs a browser in again.
    pub const REMEMBER_ME: Purpose = Purpose(Cow::Borrowed("remember_me"));
    /// A password-reset token (stored, single use).
    pub const PASSWORD_RESET: Purpose = Purpose(Cow::Borrowed("password_reset"));
    /// A magic-link token (stored, single use): signs in without a password.
    pub const MAGIC_LINK: Purpose = Purpose(Cow::Borrowed("magic_link"));
    /// A confirmation token (stored with the changes it confirms, single use).
    pub const CONFIRM: Purpose = Purpose(Cow::Borrowed("confirm"));
    /// A confirmation of a change of a monitored field (the email): bound to
    /// the password like a session's tokens, and ended by log out everywhere.
    pub const CONFIRM_CHANGE: Purpose = Purpose(Cow::Borrowed("confirm_change"));
    /// A browser's cookie session record (the session store over the token table).
    pub const COOKIE_SESSION: Purpose = Purpose(Cow::Borrowed("cookie_session"));

    /// A purpose with a static name (for add-ons such as confirmation).
    pub const fn from_static(name: &'static str) -> Self {
        Self(Cow::Borrowed(name))
    }

    /// A purpose with a name known only at run time.
    pub fn new(name: impl Into<String>) -> Self {
        Self(Cow::Owned(name.into()))
    }

    /// The purpose's name as stored and as carried in tokens.
    pub const fn as_str(&self) -> &str {
        match &self.0 {
            Cow::Borrowed(s) => s,
            Cow::Owned(s) => s.as_str(),
        }
    }
}

impl fmt::Display for Purpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Purpose {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// What a browser (cookie) session keeps to identify its user.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SessionIdentifier {
    /// Not configured (legal with tokens disabled or in allow-list mode):
    /// a cookie session keeps what [`Jti`](Self::Jti) keeps.
    #[default]
    Unset,
    /// The cookie session keeps the subject and the id of its session row
    /// (with the sessions add-on) or its token: every request checks that
    /// row, so signing out, ending the session from the device list or log
    /// out everywhere signs the browser out.
    Jti,
    /// The cookie session keeps only the subject (and the password
    /// fingerprint): nothing stored can end it but deleting the cookie
    /// session itself. Signing out clears the browser's session; a copy of
    /// its cookie stays valid as long as the session store keeps the record.
    Unsafe,
}

/// Which token purposes "log out everywhere" revokes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PurposeFilter {
    /// Only these purposes; `None` means every purpose.
    pub include: Option<Vec<Purpose>>,
    /// Never these purposes (applied after `include`).
    pub exclude: Vec<Purpose>,
}

impl Default for PurposeFilter {
    fn default() -> Self {
        Self {
            include: None,
            exclude: vec![Purpose::REVOCATION],
        }
    }
}

impl PurposeFilter {
    /// Every purpose but revocation.
    pub fn all() -> Self {
        Self::default()
    }

    /// Whether a row with this purpose passes the filter.
    pub fn matches(&self, purpose: &str) -> bool {
        let included = self
            .include
            .as_ref()
            .is_none_or(|inc| inc.iter().any(|p| p.as_str() == purpose));
        included && !self.exclude.iter().any(|p| p.as_str() == purpose)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The derive accepts exactly these algorithm names.
    #[test]
    fn the_algorithms_are_the_dsls() {
        let names = Algorithm::ALL.map(Algorithm::as_str);
        assert_eq!(names, auth_dsl::ALGORITHMS);
    }

    #[test]
    fn lifetimes_parse_and_print_back() {
        for s in ["90s", "15m", "12h", "14d", "0s"] {
            assert_eq!(Lifetime::parse(s).unwrap().to_string(), s);
        }
        assert_eq!(Lifetime::parse("14"), Err(LifetimeError::MissingUnit));
    }
}
